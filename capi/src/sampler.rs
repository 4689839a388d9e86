//! Sampler handles: logits to the next token.

use crate::model::EdgeLlamaModel;
use crate::status::{
    arg_mut, arg_ref, arg_slice, guard, need_out, write_out, CError, CResult, EdgeLlamaStatus,
};
use edge_llama::{Sampler, SamplerConfig};

/// A sampler: settings, recent tokens for the repetition penalty, and a
/// seeded random generator. Opaque.
pub struct EdgeLlamaSampler {
    pub(crate) sampler: Sampler,
}

/// Sampling settings. `edge_llama_sampler_params_default` fills llama.cpp's
/// defaults; temperature 0 is greedy (the argmax after the penalty).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EdgeLlamaSamplerParams {
    /// Divides the logits before the softmax; 0 is greedy. Finite, >= 0.
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens; 0 turns it off.
    pub top_k: u32,
    /// Nucleus sampling threshold in (0, 1]; 1 turns it off.
    pub top_p: f32,
    /// Drop tokens below `min_p` times the top probability, in [0, 1]; 0 is off.
    pub min_p: f32,
    /// Repetition penalty, > 0; 1 turns it off.
    pub repeat_penalty: f32,
    /// How many recent tokens the penalty looks at; 0 turns it off.
    pub repeat_last_n: u32,
    /// Seed: the same seed and inputs give the same tokens.
    pub seed: u64,
}

impl From<&SamplerConfig> for EdgeLlamaSamplerParams {
    fn from(c: &SamplerConfig) -> Self {
        EdgeLlamaSamplerParams {
            temperature: c.temperature,
            top_k: u32::try_from(c.top_k).unwrap_or(u32::MAX),
            top_p: c.top_p,
            min_p: c.min_p,
            repeat_penalty: c.repeat_penalty,
            repeat_last_n: u32::try_from(c.repeat_last_n).unwrap_or(u32::MAX),
            seed: c.seed,
        }
    }
}

impl From<&EdgeLlamaSamplerParams> for SamplerConfig {
    fn from(p: &EdgeLlamaSamplerParams) -> Self {
        SamplerConfig {
            temperature: p.temperature,
            top_k: p.top_k as usize,
            top_p: p.top_p,
            min_p: p.min_p,
            repeat_penalty: p.repeat_penalty,
            repeat_last_n: p.repeat_last_n as usize,
            seed: p.seed,
        }
    }
}

/// Most recent tokens the repetition penalty may look at. The sampler
/// reserves room for them up front, so an absurd count would be an
/// allocation the process cannot survive rather than an error.
pub const EDGE_LLAMA_MAX_REPEAT_LAST_N: u32 = 1_048_576;

/// The settings from `params`, or the defaults when it is NULL.
///
/// # Safety
/// `params` is NULL or points to a readable `EdgeLlamaSamplerParams`.
pub(crate) unsafe fn sampler_config(
    params: *const EdgeLlamaSamplerParams,
) -> CResult<SamplerConfig> {
    // SAFETY: the caller's guarantee.
    match unsafe { params.as_ref() } {
        Some(p) if p.repeat_last_n > EDGE_LLAMA_MAX_REPEAT_LAST_N => Err(CError::invalid(format!(
            "repeat_last_n = {} is above the limit {EDGE_LLAMA_MAX_REPEAT_LAST_N}",
            p.repeat_last_n
        ))),
        Some(p) => Ok(SamplerConfig::from(p)),
        None => Ok(SamplerConfig::default()),
    }
}

/// Writes llama.cpp's default sampling settings to `*out`: temperature 0.8,
/// top-k 40, top-p 0.95, min-p 0.05, penalty 1.0 (off) over 64 tokens, seed 0.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_sampler_params_default(
    out: *mut EdgeLlamaSamplerParams,
) -> EdgeLlamaStatus {
    guard(|| {
        let params = EdgeLlamaSamplerParams::from(&SamplerConfig::default());
        // SAFETY: the caller's guarantee.
        unsafe { write_out(out, params, "out") }
    })
}

/// Makes a sampler for `model`'s vocabulary with `params` (NULL: the
/// defaults) and writes it to `*out` (NULL on failure). Invalid settings are
/// `EDGE_LLAMA_ERR_INVALID_ARGUMENT` naming the field.
///
/// # Safety
/// `model` is NULL or a live handle; `params` is NULL or readable; `out` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_sampler_new(
    model: *const EdgeLlamaModel,
    params: *const EdgeLlamaSamplerParams,
    out: *mut *mut EdgeLlamaSampler,
) -> EdgeLlamaStatus {
    guard(|| {
        need_out(out, "out")?;
        // SAFETY: checked non-null; the caller guarantees it is writable.
        unsafe { out.write(std::ptr::null_mut()) };
        // SAFETY: the caller's guarantees, as documented.
        let m = &unsafe { arg_ref(model, "model") }?.model;
        // SAFETY: as above.
        let config = unsafe { sampler_config(params) }?;
        let sampler = Sampler::new(config, m.config().n_vocab)?;
        let handle = Box::into_raw(Box::new(EdgeLlamaSampler { sampler }));
        // SAFETY: as above.
        unsafe { write_out(out, handle, "out") }
    })
}

/// Frees a sampler. NULL is accepted and does nothing.
///
/// # Safety
/// `sampler` is NULL or a handle from `edge_llama_sampler_new` not yet
/// freed; no other thread uses it.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_sampler_free(
    sampler: *mut EdgeLlamaSampler,
) -> EdgeLlamaStatus {
    guard(|| {
        if !sampler.is_null() {
            // SAFETY: made by Box::into_raw in edge_llama_sampler_new, freed once.
            drop(unsafe { Box::from_raw(sampler) });
        }
        Ok(())
    })
}

/// Picks a token from `n_logits` logits (must equal the vocabulary size)
/// and writes it to `*token`. Does not record it: call
/// `edge_llama_sampler_accept` for the repetition penalty.
///
/// # Safety
/// `sampler` is NULL or a live handle used by no other thread; `logits` is
/// NULL or readable for `n_logits` floats; `token` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_sampler_sample(
    sampler: *mut EdgeLlamaSampler,
    logits: *const f32,
    n_logits: usize,
    token: *mut u32,
) -> EdgeLlamaStatus {
    guard(|| {
        // SAFETY: the caller's guarantees, as documented.
        let s = &mut unsafe { arg_mut(sampler, "sampler") }?.sampler;
        // SAFETY: as above.
        let logits = unsafe { arg_slice(logits, n_logits, "logits") }?;
        need_out(token, "token")?;
        let id = s.sample(logits)?;
        // SAFETY: as above.
        unsafe { write_out(token, id, "token") }
    })
}

/// Records `token` as generated or seen (for the repetition penalty).
///
/// # Safety
/// `sampler` is NULL or a live handle used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_sampler_accept(
    sampler: *mut EdgeLlamaSampler,
    token: u32,
) -> EdgeLlamaStatus {
    guard(|| {
        // SAFETY: the caller's guarantee.
        unsafe { arg_mut(sampler, "sampler") }?
            .sampler
            .accept(token);
        Ok(())
    })
}

/// Forgets the recent tokens. The random generator keeps going (a reset
/// sampler does not replay earlier draws); see `edge_llama_sampler_reseed`.
///
/// # Safety
/// `sampler` is NULL or a live handle used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_sampler_reset(
    sampler: *mut EdgeLlamaSampler,
) -> EdgeLlamaStatus {
    guard(|| {
        // SAFETY: the caller's guarantee.
        unsafe { arg_mut(sampler, "sampler") }?.sampler.reset();
        Ok(())
    })
}

/// Restarts the random generator from `seed`.
///
/// # Safety
/// `sampler` is NULL or a live handle used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_sampler_reseed(
    sampler: *mut EdgeLlamaSampler,
    seed: u64,
) -> EdgeLlamaStatus {
    guard(|| {
        // SAFETY: the caller's guarantee.
        unsafe { arg_mut(sampler, "sampler") }?.sampler.reseed(seed);
        Ok(())
    })
}

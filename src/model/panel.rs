//! Prompt products through a path's panel kernels (see
//! `edge_llama_kernels::quant::panel`): the batch's activations are packed
//! once into panels of 16 rows, and each thread prepares 8 weight rows at a
//! time into a small scratch that stays in cache while every panel passes
//! over it. Weights are read from the map; nothing of them is kept.

use super::matvec::rows8;
use edge_llama_kernels::quant::panel::{PanelKernels, PANEL_ROWS, PANEL_TILE_ROWS};
use edge_llama_kernels::QuantType;
use std::cell::RefCell;

/// Smallest batch worth packing into panels (below it the 8-row tiles
/// waste less on padding).
pub(super) const PANEL_MIN_BATCH: usize = PANEL_ROWS;

thread_local! {
    /// The packed panels of the product being run (on the calling thread).
    static PACKED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// One thread's prepared weight rows.
    static PREPARED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// `out = W · A` for weights `w` (rows of `per_row` blocks) and the `batch`
/// activation rows back to back in `a`; `out` is `[row][batch]`. Rows past
/// the last multiple of 8 go to `row_out`. Each (row, vector) pair gets the
/// bits of the type's single-row dot (the panel kernels' contract).
#[allow(clippy::too_many_arguments)]
pub(super) fn panel_products<T: QuantType, R>(
    pool: Option<&rayon::ThreadPool>,
    out: &mut [f32],
    batch: usize,
    w: &[T],
    a: &[T::Act],
    per_row: usize,
    pk: PanelKernels<T, T::Act>,
    row_out: R,
) where
    R: Fn(&[T], &mut [f32]) + Sync,
{
    let panel_bytes = pk.panel_bytes(per_row);
    PACKED.with_borrow_mut(|packed| {
        // No clearing: `pack_act` writes every byte of each panel, so only
        // growth needs filling.
        packed.resize(batch.div_ceil(PANEL_ROWS) * panel_bytes, 0);
        for (p, dst) in packed.chunks_exact_mut(panel_bytes).enumerate() {
            let first = p * PANEL_ROWS;
            let rows = (batch - first).min(PANEL_ROWS);
            (pk.pack_act)(&a[first * per_row..(first + rows) * per_row], rows, dst);
        }
        let packed: &[u8] = packed;
        let tile = |w8: &[T], o: &mut [f32]| {
            PREPARED.with_borrow_mut(|prep| {
                prep.resize(pk.prepared_bytes(per_row), 0);
                (pk.prep_weights)(w8, prep);
                for (p, panel) in packed.chunks_exact(panel_bytes).enumerate() {
                    let mut res = [[0f32; PANEL_ROWS]; PANEL_TILE_ROWS];
                    (pk.tile)(prep, panel, &mut res);
                    let first = p * PANEL_ROWS;
                    let rows = (batch - first).min(PANEL_ROWS);
                    for (r, v) in res.iter().enumerate() {
                        o[r * batch + first..][..rows].copy_from_slice(&v[..rows]);
                    }
                }
            })
        };
        rows8(pool, out, batch, w, per_row, tile, row_out);
    })
}

//! Panel kernels: matrix-matrix products for prompts.
//!
//! A batch of activation rows is re-laid out once per product into
//! *panels* of [`PANEL_ROWS`] rows (lane t of a vector = activation row t),
//! and [`PANEL_TILE_ROWS`] weight rows at a time are prepared once (blocks
//! unpacked into a small scratch that stays in cache) and multiplied with
//! every panel. The weights themselves are never copied beyond that scratch
//! and never leave the map.
//!
//! Contract: for every (weight row, activation row) pair, a panel product
//! gives exactly the bits of the type's single-row `dot` for the same
//! numerics (each lane keeps the row's own FMA chain in block order).

/// Activation rows per panel (the lanes of one 512-bit vector of f32).
pub const PANEL_ROWS: usize = 16;

/// Weight rows per panel tile.
pub const PANEL_TILE_ROWS: usize = 8;

/// The results of one panel tile: `out[r][t]` = weight row r · activation
/// row t of the panel.
pub type PanelOut = [[f32; PANEL_ROWS]; PANEL_TILE_ROWS];

/// Packs up to [`PANEL_ROWS`] activation rows (back to back in `x`,
/// `x.len() / rows` blocks each) into one panel in `out`
/// (`blocks × act_block_bytes` bytes). Rows past `rows` are packed as
/// zeros. Every byte of `out` is written (callers may pass a reused,
/// uncleared buffer).
pub type PackActFn<X> = fn(x: &[X], rows: usize, out: &mut [u8]);
/// Prepares [`PANEL_TILE_ROWS`] weight rows (back to back in `w`) into
/// `out` (`blocks × PANEL_TILE_ROWS × weight_block_bytes` bytes).
pub type PrepWeightsFn<W> = fn(w: &[W], out: &mut [u8]);
/// Multiplies prepared weight rows with one panel.
pub type PanelTileFn = fn(weights: &[u8], panel: &[u8], out: &mut PanelOut);

/// The panel kernels of one weight type on one path, for one numerics.
pub struct PanelKernels<W, X> {
    /// Bytes one block position of a panel takes ([`PANEL_ROWS`] rows).
    pub act_block_bytes: usize,
    /// Bytes one weight block takes prepared (per weight row).
    pub weight_block_bytes: usize,
    /// Packs activation rows into a panel.
    pub pack_act: PackActFn<X>,
    /// Prepares a tile of weight rows.
    pub prep_weights: PrepWeightsFn<W>,
    /// Prepared weights × one panel.
    pub tile: PanelTileFn,
}

impl<W, X> Clone for PanelKernels<W, X> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<W, X> Copy for PanelKernels<W, X> {}

impl<W, X> PanelKernels<W, X> {
    /// Bytes of one packed panel of `blocks` block positions.
    pub fn panel_bytes(&self, blocks: usize) -> usize {
        blocks * self.act_block_bytes
    }

    /// Bytes of one prepared tile of rows of `blocks` blocks.
    pub fn prepared_bytes(&self, blocks: usize) -> usize {
        blocks * PANEL_TILE_ROWS * self.weight_block_bytes
    }
}

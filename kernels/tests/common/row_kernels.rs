//! One check of a type's row kernels against a reference dot, shared by the
//! tests that generate their own rows (Q4_1, Q8_0).

use super::kq_rows::same;
use edge_llama_kernels::quant::RowKernels;

/// Checks every kernel of `rk` on 8 weight rows `w` and 4 activation rows
/// `x` (all of the same length) against `want`, bit for bit: the single
/// dot (activation 0), the 4-row dot (each weight row × all four), `rows2`
/// if present (rows 0 and 1 × activation 1), and the 8-row tiles (× 1:
/// activation 2; × 4: all four). `ctx` names the case in failures.
pub fn check_row_kernels<W: Clone, X: Clone>(
    rk: &RowKernels<W, X>,
    w: &[Vec<W>],
    x: &[Vec<X>],
    want: impl Fn(&[W], &[X]) -> f32,
    ctx: &str,
) {
    assert!(
        w.len() == 8 && x.len() == 4,
        "8 weight rows, 4 activation rows"
    );
    let nb = x[0].len();
    let (wc, xc) = (w.concat(), x.concat());
    for (row, wr) in w.iter().enumerate() {
        let (got, exp) = ((rk.dot)(wr, &x[0]), want(wr, &x[0]));
        assert!(same(got, exp), "{ctx}: dot row {row}: {got} vs {exp}");
        let mut o4 = [0f32; 4];
        rk.dot4(wr, &xc, &mut o4);
        for (v, xv) in x.iter().enumerate() {
            assert!(
                same(o4[v], want(wr, xv)),
                "{ctx}: dot4 row {row} vector {v}"
            );
        }
    }
    if let Some(f) = rk.rows2 {
        let mut o2 = [0f32; 2];
        f(&wc[..2 * nb], &x[1], &mut o2);
        for (row, o) in o2.iter().enumerate() {
            assert!(same(*o, want(&w[row], &x[1])), "{ctx}: rows2 row {row}");
        }
    }
    let mut t1 = [[0f32; 8]; 1];
    rk.tile8::<1>(&wc, &x[2], &mut t1);
    let mut t4 = [[0f32; 8]; 4];
    rk.tile8::<4>(&wc, &xc, &mut t4);
    for (row, wr) in w.iter().enumerate() {
        assert!(
            same(t1[0][row], want(wr, &x[2])),
            "{ctx}: tile8x1 row {row}: {} vs {}",
            t1[0][row],
            want(wr, &x[2])
        );
        for (v, xv) in x.iter().enumerate() {
            assert!(
                same(t4[v][row], want(wr, xv)),
                "{ctx}: tile8x4 row {row} vector {v}"
            );
        }
    }
}

//! The accuracy-vs-speed plot of quant_bench: an SVG with generation speed on
//! a linear x axis, mean KL divergence against the base on a logarithmic y
//! axis, and the Pareto front (the files no other file beats on both speed
//! and KLD) drawn as a dashed line through filled points.

use std::fmt::Write as _;

/// One file in the plot.
pub struct Point {
    /// Its label (`base (q4_1)`, `q4_k_m`, …).
    pub label: String,
    /// Bits per weight of its tensor data.
    pub bpw: f64,
    /// Generation speed, tokens/s.
    pub tg_tps: f64,
    /// Mean KL divergence against the base, nats (0 for the base itself).
    pub kld: f64,
}

/// Indices of the points on the Pareto front: those with finite values that
/// no other point matches or beats on both axes (at least as fast and at most
/// the same KLD) while being strictly better on one. Ties keep both.
pub fn pareto_front(points: &[Point]) -> Vec<usize> {
    let ok = |p: &Point| p.tg_tps.is_finite() && p.kld.is_finite();
    (0..points.len())
        .filter(|&i| {
            let p = &points[i];
            ok(p)
                && !points.iter().any(|q| {
                    ok(q)
                        && q.tg_tps >= p.tg_tps
                        && q.kld <= p.kld
                        && (q.tg_tps > p.tg_tps || q.kld < p.kld)
                })
        })
        .collect()
}

/// Round tick step (1, 2 or 5 × 10^k) giving about `n` ticks over `range`.
fn nice_step(range: f64, n: f64) -> f64 {
    let raw = (range / n).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    mag * if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    }
}

fn fmt_tick(v: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    format!("{v:.decimals$}")
}

/// A power of ten as a tick label: `0.01` down to `0.0001`, then `1e-5`.
fn fmt_decade(e: i32) -> String {
    if (-4..=0).contains(&e) {
        format!("{}", 10f64.powi(e))
    } else if e > 0 {
        format!("{:.0}", 10f64.powi(e))
    } else {
        format!("1e{e}")
    }
}

/// A KLD value for a point label.
fn fmt_kld(k: f64) -> String {
    if k == 0.0 {
        "0".into()
    } else if k >= 0.01 {
        format!("{k:.3}")
    } else {
        format!("{k:.1e}")
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The log KLD axis: decades `lo_exp ..= hi_exp` above a floor one decade
/// below `lo_exp`, where KLD 0 is drawn.
struct KldAxis {
    floor_exp: i32,
    lo_exp: i32,
    hi_exp: i32,
}

impl KldAxis {
    fn new(points: &[Point]) -> KldAxis {
        let pos: Vec<f64> = points
            .iter()
            .map(|p| p.kld)
            .filter(|k| k.is_finite() && *k > 0.0)
            .collect();
        let (lo_exp, hi_exp) = if pos.is_empty() {
            (-4, -1)
        } else {
            let lo = pos.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = pos.iter().copied().fold(0.0f64, f64::max);
            let lo_exp = lo.log10().floor() as i32;
            let hi_exp = (hi.log10().ceil() as i32).max(lo_exp + 1);
            (lo_exp, hi_exp)
        };
        KldAxis {
            floor_exp: lo_exp - 1,
            lo_exp,
            hi_exp,
        }
    }

    /// Fraction of the axis height (0 at the bottom) for `k`; 0 for k ≤ 0
    /// (the floor).
    fn frac(&self, k: f64) -> f64 {
        if k <= 0.0 {
            return 0.0;
        }
        let span = f64::from(self.hi_exp - self.floor_exp);
        ((k.log10() - f64::from(self.floor_exp)) / span).clamp(0.0, 1.0)
    }
}

/// The whole plot. `title` is the first line; `points` one per file.
pub fn svg(title: &str, points: &[Point]) -> String {
    let (w, h) = (820.0, 600.0);
    let (left, right, top, bottom) = (90.0, 30.0, 60.0, 130.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let front = pareto_front(points);
    let xmax_data = points
        .iter()
        .map(|p| p.tg_tps)
        .filter(|x| x.is_finite())
        .fold(0.0f64, f64::max);
    let xstep = nice_step(xmax_data.max(1e-9) * 1.1, 6.0);
    let xmax = (xmax_data * 1.1 / xstep).ceil().max(1.0) * xstep;
    let axis = KldAxis::new(points);
    let px = |x: f64| left + pw * x / xmax;
    let py = |k: f64| top + ph * (1.0 - axis.frac(k));

    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif">"#
    );
    let _ = writeln!(o, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        o,
        r#"<text x="{}" y="28" font-size="17" text-anchor="middle" font-weight="bold">{}</text>"#,
        w / 2.0,
        xml(title)
    );
    // x grid and ticks.
    let mut v = 0.0;
    while v <= xmax + xstep * 1e-6 {
        let x = px(v);
        let _ = writeln!(
            o,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{:.1}" stroke="#e4e4e4"/>"##,
            top + ph
        );
        let _ = writeln!(
            o,
            r#"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="black"/>"#,
            top + ph,
            top + ph + 6.0
        );
        let _ = writeln!(
            o,
            r#"<text x="{x:.1}" y="{:.1}" font-size="13" text-anchor="middle">{}</text>"#,
            top + ph + 22.0,
            fmt_tick(v, xstep)
        );
        v += xstep;
    }
    // y: decades labelled, 2× and 5× light, the floor line for KLD 0.
    for e in axis.lo_exp..=axis.hi_exp {
        for (m, major) in [(1.0, true), (2.0, false), (5.0, false)] {
            let k = m * 10f64.powi(e);
            if k > 10f64.powi(axis.hi_exp) * 1.0001 {
                continue;
            }
            let y = py(k);
            let grid = if major { "#d0d0d0" } else { "#efefef" };
            let _ = writeln!(
                o,
                r#"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{grid}"/>"#,
                left + pw
            );
            if major {
                let _ = writeln!(
                    o,
                    r#"<line x1="{:.1}" y1="{y:.1}" x2="{left}" y2="{y:.1}" stroke="black"/>"#,
                    left - 6.0
                );
                let _ = writeln!(
                    o,
                    r#"<text x="{:.1}" y="{:.1}" font-size="13" text-anchor="end">{}</text>"#,
                    left - 10.0,
                    y + 4.5,
                    fmt_decade(e)
                );
            }
        }
    }
    let y0 = py(0.0);
    let _ = writeln!(
        o,
        r##"<line x1="{left}" y1="{y0:.1}" x2="{:.1}" y2="{y0:.1}" stroke="#888" stroke-dasharray="2,3"/>"##,
        left + pw
    );
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="{:.1}" font-size="13" text-anchor="end">0</text>"#,
        left - 10.0,
        y0 + 4.5
    );
    // The axis break between the floor and the first decade.
    let yb = py(10f64.powi(axis.lo_exp)) + 0.5 * (y0 - py(10f64.powi(axis.lo_exp)));
    let _ = writeln!(
        o,
        r#"<path d="M{:.1},{:.1} l12,-5 M{:.1},{:.1} l12,-5" stroke="black" stroke-width="1.5"/>"#,
        left - 6.0,
        yb + 1.0,
        left - 6.0,
        yb + 6.0
    );
    // Axes and their labels.
    let _ = writeln!(
        o,
        r#"<line x1="{left}" y1="{top}" x2="{left}" y2="{:.1}" stroke="black" stroke-width="1.5"/>"#,
        top + ph
    );
    let _ = writeln!(
        o,
        r#"<line x1="{left}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black" stroke-width="1.5"/>"#,
        top + ph,
        left + pw,
        top + ph
    );
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="{:.1}" font-size="15" text-anchor="middle">generation speed (tokens/s, higher is better)</text>"#,
        left + pw / 2.0,
        top + ph + 48.0
    );
    let _ = writeln!(
        o,
        r#"<text x="22" y="{:.1}" font-size="15" text-anchor="middle" transform="rotate(-90 22 {:.1})">mean KL divergence vs base (nats, log scale, lower is better)</text>"#,
        top + ph / 2.0,
        top + ph / 2.0
    );
    // The Pareto front: a dashed line through its points, fastest last.
    let mut fp: Vec<(f64, f64)> = front
        .iter()
        .map(|&i| (px(points[i].tg_tps), py(points[i].kld)))
        .collect();
    fp.sort_by(|a, b| a.0.total_cmp(&b.0));
    if fp.len() > 1 {
        let d: Vec<String> = fp.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = writeln!(
            o,
            r#"<polyline points="{}" fill="none" stroke="black" stroke-width="1.5" stroke-dasharray="6,4"/>"#,
            d.join(" ")
        );
    }
    points_and_labels(&mut o, points, &front, (w, top, ph), &px, &py);
    legend(&mut o, (left, top + ph + 78.0), axis.floor_exp);
    o.push_str("</svg>\n");
    o
}

/// Draws the points (filled on the front, hollow off it) and their labels,
/// each label where it overlaps no earlier point or label.
fn points_and_labels(
    o: &mut String,
    points: &[Point],
    front: &[usize],
    (w, top, ph): (f64, f64, f64),
    px: &dyn Fn(f64) -> f64,
    py: &dyn Fn(f64) -> f64,
) {
    let colors = [
        "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
        "#7f7f7f", "#bcbd22",
    ];
    let mut placed: Vec<(f64, f64, f64, f64)> = Vec::new();
    let mut labels = String::new();
    for (i, p) in points.iter().enumerate() {
        if !(p.tg_tps.is_finite() && p.kld.is_finite()) {
            continue;
        }
        let (cx, cy) = (px(p.tg_tps), py(p.kld));
        let c = colors[i % colors.len()];
        if front.contains(&i) {
            let _ = writeln!(
                o,
                r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="7" fill="{c}" stroke="black" stroke-width="2"/>"#
            );
        } else {
            let _ = writeln!(
                o,
                r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="6" fill="white" stroke="{c}" stroke-width="2.5"/>"#
            );
        }
        placed.push((cx - 8.0, cx + 8.0, cy - 8.0, cy + 8.0));
    }
    for (i, p) in points.iter().enumerate() {
        if !(p.tg_tps.is_finite() && p.kld.is_finite()) {
            continue;
        }
        let (cx, cy) = (px(p.tg_tps), py(p.kld));
        let c = colors[i % colors.len()];
        let text = format!("{}: {:.2} bpw, KLD {}", p.label, p.bpw, fmt_kld(p.kld));
        // 7.6 px per character: a generous width for 13 px bold sans.
        let tw = 7.6 * text.chars().count() as f64;
        let free = |x0: f64, y0: f64| {
            x0 >= 4.0
                && x0 + tw <= w - 4.0
                && y0 - 12.0 >= top - 25.0
                && y0 <= top + ph + 14.0
                && !placed
                    .iter()
                    .any(|b| x0 < b.1 && b.0 < x0 + tw && y0 - 12.0 < b.3 && b.2 < y0 + 4.0)
        };
        let mut spot = None;
        'search: for dy in [-10.0, 22.0, -28.0, 40.0, -46.0, 58.0, -64.0, 76.0, -82.0] {
            for x0 in [cx + 11.0, cx - 11.0 - tw] {
                if free(x0, cy + dy) {
                    spot = Some((x0, cy + dy));
                    break 'search;
                }
            }
        }
        let (x0, base_y) = spot.unwrap_or((cx + 11.0, cy - 10.0));
        placed.push((x0, x0 + tw, base_y - 12.0, base_y + 4.0));
        let lx = if x0 > cx { x0 - 2.0 } else { x0 + tw + 2.0 };
        let _ = writeln!(
            labels,
            r#"<line x1="{cx:.1}" y1="{cy:.1}" x2="{lx:.1}" y2="{:.1}" stroke="{c}" stroke-width="1"/>"#,
            base_y - 5.0
        );
        let _ = writeln!(
            labels,
            r#"<text x="{x0:.1}" y="{base_y:.1}" font-size="13" fill="{c}" font-weight="bold">{}</text>"#,
            xml(&text)
        );
    }
    o.push_str(&labels);
}

/// The legend below the x-axis label: what filled and hollow points, the
/// dashed line and the floor line mean.
fn legend(o: &mut String, (x, y): (f64, f64), floor_exp: i32) {
    let _ = writeln!(
        o,
        r##"<circle cx="{:.1}" cy="{:.1}" r="6" fill="#555" stroke="black" stroke-width="2"/>"##,
        x + 6.0,
        y - 4.0
    );
    let _ = writeln!(
        o,
        r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black" stroke-width="1.5" stroke-dasharray="6,4"/>"#,
        x + 16.0,
        y - 4.0,
        x + 44.0,
        y - 4.0
    );
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="{y:.1}" font-size="13">Pareto front: no other file is both faster and closer to the base</text>"#,
        x + 52.0
    );
    let _ = writeln!(
        o,
        r##"<circle cx="{:.1}" cy="{:.1}" r="6" fill="white" stroke="#555" stroke-width="2.5"/>"##,
        x + 6.0,
        y + 18.0
    );
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="{:.1}" font-size="13">dominated: another file is at least as fast and as close</text>"#,
        x + 52.0,
        y + 22.0
    );
    let _ = writeln!(
        o,
        r##"<line x1="{x:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#888" stroke-dasharray="2,3"/>"##,
        y + 40.0,
        x + 44.0,
        y + 40.0
    );
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="{:.1}" font-size="13">KLD 0 (the base itself) has no place on a log axis: drawn on this floor, a decade below {}</text>"#,
        x + 52.0,
        y + 44.0,
        fmt_decade(floor_exp + 1)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(label: &str, tg: f64, kld: f64) -> Point {
        Point {
            label: label.into(),
            bpw: 4.0,
            tg_tps: tg,
            kld,
        }
    }

    #[test]
    fn front_keeps_only_undominated_points() {
        let pts = [
            pt("base", 100.0, 0.0),
            pt("f16", 60.0, 0.002),   // slower and worse than base: dominated
            pt("q8_0", 110.0, 0.004), // faster than base
            pt("q4_0", 105.0, 0.2),   // slower and worse than q8_0: dominated
            pt("q2_k", 130.0, 0.9),
            pt("nan", f64::NAN, 0.1),
        ];
        assert_eq!(pareto_front(&pts), [0, 2, 4]);
    }

    #[test]
    fn log_axis_floor_is_a_decade_below_the_smallest_kld() {
        let pts = [
            pt("base", 1.0, 0.0),
            pt("a", 1.0, 0.0023),
            pt("b", 1.0, 0.23),
        ];
        let a = KldAxis::new(&pts);
        assert_eq!((a.floor_exp, a.lo_exp, a.hi_exp), (-4, -3, 0));
        assert_eq!(a.frac(0.0), 0.0);
        assert!((a.frac(1e-3) - 0.25).abs() < 1e-12);
        assert!((a.frac(1.0) - 1.0).abs() < 1e-12);
        assert_eq!(fmt_decade(-5), "1e-5");
        assert_eq!(fmt_decade(-2), "0.01");
    }
}

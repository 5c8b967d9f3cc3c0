//! `--chart FILE.svg`: the monthly cost stacked by component against users, both axes
//! logarithmic, titled, with labelled axes and a legend, so it reads without the table.

use std::path::Path;

use plotters::prelude::*;

use crate::CostReport;
use crate::error::Error;
use crate::model::Component;

const COLOURS: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(57, 59, 121),
    RGBColor(173, 73, 74),
];
// One colour per component: two bands of one colour would read as one.
const _: () = assert!(COLOURS.len() >= Component::ALL.len());

fn chart_error(error: impl std::fmt::Display) -> Error {
    Error::Chart(format!("drawing the chart: {error}"))
}

pub fn draw(report: &CostReport, path: &Path) -> Result<(), Error> {
    let users: Vec<f64> = report.tiers.iter().map(|t| t.users as f64).collect();
    let (first, last) = (users.first().copied().unwrap_or(1.0), users.last().copied().unwrap_or(10.0));
    let top = report.tiers.iter().map(|t| t.total).fold(1.0, f64::max) * 3.0;
    // The stack's floor: a hundredth of the cheapest tier's total, so every band that matters shows.
    let floor = report.tiers.iter().map(|t| t.total).fold(f64::INFINITY, f64::min).max(0.01) / 100.0;

    let root = SVGBackend::new(path, (1000, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(chart_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Monthly AWS bill by component (us-east-1, default workload)", ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(56)
        .y_label_area_size(90)
        .build_cartesian_2d((first..last).log_scale(), (floor..top).log_scale())
        .map_err(chart_error)?;
    chart
        .configure_mesh()
        .x_desc("users")
        .y_desc("USD per month")
        .x_label_formatter(&|x| human(*x))
        .y_label_formatter(&|y| format!("${}", human(*y)))
        .draw()
        .map_err(chart_error)?;

    // Cumulative bands, drawn from the top of the stack down so each lower band covers the rest.
    let mut below = vec![floor; users.len()];
    let mut bands = Vec::new();
    for component in Component::ALL {
        let tops: Vec<f64> = report.tiers.iter().zip(&below).map(|(t, b)| b + t.cost(component)).collect();
        bands.push((component, tops.clone()));
        below = tops;
    }
    for (index, (component, tops)) in bands.iter().enumerate().rev() {
        let colour = COLOURS[index];
        chart
            .draw_series(
                AreaSeries::new(users.iter().copied().zip(tops.iter().copied()), floor, colour.mix(0.85))
                    .border_style(colour),
            )
            .map_err(chart_error)?
            .label(component.label())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(chart_error)?;
    root.present().map_err(chart_error)
}

/// 1000 → 1K, 2500000 → 2.5M.
fn human(x: f64) -> String {
    let (value, suffix) = match x {
        x if x >= 1e9 => (x / 1e9, "B"),
        x if x >= 1e6 => (x / 1e6, "M"),
        x if x >= 1e3 => (x / 1e3, "K"),
        x => (x, ""),
    };
    let text = format!("{value:.1}");
    format!("{}{suffix}", text.trim_end_matches(".0"))
}

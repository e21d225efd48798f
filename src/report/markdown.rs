//! Markdown: the report's [`Document`](super::table::Document) (results, latency, improvement
//! summary, targets, stress levels, sweep, suite tiers) as GitHub tables, for pasting into an
//! issue or a PR.

use std::fmt::Write;

use super::table::{Align, Block, Document, Style, Table, Text};
use crate::result::BenchResult;

pub fn render(r: &BenchResult) -> String {
    document(&super::views::document(r))
}

pub fn document(doc: &Document) -> String {
    let mut out = format!("# {}\n", doc.title);
    for b in &doc.blocks {
        out.push('\n');
        match b {
            Block::Heading(h) => {
                let _ = writeln!(out, "## {h}");
            }
            Block::Paragraph(t) => {
                let _ = writeln!(out, "{}", text(t));
            }
            Block::Table(t) => out.push_str(&table(t)),
        }
    }
    out
}

fn text(t: &Text) -> String {
    t.0.iter()
        .map(|s| {
            let body = s.text.replace('|', "\\|");
            match s.style {
                Style::Plain => body,
                Style::Code => format!("`{body}`"),
                Style::Strong => format!("**{body}**"),
            }
        })
        .collect()
}

fn table(t: &Table) -> String {
    let mut out = String::from("|");
    for c in &t.columns {
        let _ = write!(out, " {} |", c.name);
    }
    out.push_str("\n|");
    for c in &t.columns {
        out.push_str(match c.align {
            Align::Left => "---|",
            Align::Right => "---:|",
        });
    }
    out.push('\n');
    for row in &t.rows {
        out.push('|');
        for cell in row {
            let _ = write!(out, " {} |", text(cell));
        }
        out.push('\n');
    }
    out
}

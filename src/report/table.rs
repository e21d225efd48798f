//! The one table model of every report: a [`Document`] of headings, paragraphs and [`Table`]s.
//! The views (`views.rs`) build it from a result; console text, Markdown and HTML render it, so
//! the three formats show the same figures and none of them parses another's output.

use std::fmt::Write;

/// How a piece of text is set: plain, as code (`ttft.p95<=500ms`), or emphasised (FAILED).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Code,
    Strong,
}

/// A run of text with one style.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub style: Style,
    pub text: String,
}

/// A cell or a paragraph: styled spans.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Text(pub Vec<Span>);

impl Text {
    pub fn plain(s: impl Into<String>) -> Text {
        Text(vec![Span {
            style: Style::Plain,
            text: s.into(),
        }])
    }
    pub fn code(s: impl Into<String>) -> Text {
        Text(vec![Span {
            style: Style::Code,
            text: s.into(),
        }])
    }
    pub fn strong(s: impl Into<String>) -> Text {
        Text(vec![Span {
            style: Style::Strong,
            text: s.into(),
        }])
    }
    /// Append a span.
    pub fn then(mut self, style: Style, s: impl Into<String>) -> Text {
        self.0.push(Span {
            style,
            text: s.into(),
        });
        self
    }
    /// The text without styling (console).
    pub fn flat(&self) -> String {
        self.0.iter().map(|s| s.text.as_str()).collect()
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::plain(s)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::plain(s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub align: Align,
}

/// Rows of cells under named columns. The first column is left-aligned, figures right-aligned.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Text>>,
}

impl Table {
    /// Columns by name; a name starting with `<` is left-aligned (the `<` is dropped).
    pub fn new(columns: &[&str]) -> Table {
        Table {
            columns: columns
                .iter()
                .map(|c| match c.strip_prefix('<') {
                    Some(name) => Column {
                        name: name.to_string(),
                        align: Align::Left,
                    },
                    None => Column {
                        name: c.to_string(),
                        align: Align::Right,
                    },
                })
                .collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<Text>) {
        debug_assert_eq!(
            cells.len(),
            self.columns.len(),
            "a row has one cell per column"
        );
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Aligned plain text, each line indented by `indent` spaces.
    pub fn to_text(&self, indent: usize) -> String {
        let flat: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(Text::flat).collect())
            .collect();
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|i| {
                flat.iter()
                    .map(|r| r[i].chars().count())
                    .chain([self.columns[i].name.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<&str>| -> String {
            let mut s = " ".repeat(indent);
            for (i, c) in cells.iter().enumerate() {
                let w = widths[i];
                if i > 0 {
                    s.push_str("  ");
                }
                match self.columns[i].align {
                    Align::Left => {
                        let _ = write!(s, "{c:<w$}");
                    }
                    Align::Right => {
                        let _ = write!(s, "{c:>w$}");
                    }
                }
            }
            s.truncate(s.trim_end().len());
            s.push('\n');
            s
        };
        let mut out = line(self.columns.iter().map(|c| c.name.as_str()).collect());
        for r in &flat {
            out.push_str(&line(r.iter().map(String::as_str).collect()));
        }
        out
    }
}

/// One block of a report.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading(String),
    Paragraph(Text),
    Table(Table),
}

/// A report: a title and its blocks, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    pub title: String,
    pub blocks: Vec<Block>,
}

impl Document {
    pub fn heading(&mut self, s: impl Into<String>) {
        self.blocks.push(Block::Heading(s.into()));
    }
    pub fn paragraph(&mut self, t: impl Into<Text>) {
        self.blocks.push(Block::Paragraph(t.into()));
    }
    /// A table under a heading; an empty table is left out with its heading.
    pub fn section(&mut self, heading: &str, table: Table) {
        if !table.is_empty() {
            self.heading(heading);
            self.blocks.push(Block::Table(table));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_table_aligns_columns() {
        let mut t = Table::new(&["<name", "value"]);
        t.row(vec!["a".into(), "1.5".into()]);
        t.row(vec!["longer".into(), "12.25".into()]);
        assert_eq!(
            t.to_text(2),
            "  name    value\n  a         1.5\n  longer  12.25\n"
        );
    }
}

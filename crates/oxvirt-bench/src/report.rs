//! A benchmark's result: printed, and written as `<out>/<bench>-<UTC timestamp>.json` plus a
//! markdown table fragment `<out>/<bench>-<UTC timestamp>.md` for `docs/BENCHMARKS.md`.

use crate::Options;
use crate::machine::Machine;
use serde_json::{Value, json};
use std::path::PathBuf;

/// One figure with its target (if the issue sets one) for the table.
#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    pub value: String,
    pub target: String,
}

#[derive(Debug)]
pub struct Report {
    pub bench: &'static str,
    pub title: &'static str,
    pub started_utc: String,
    pub params: Value,
    pub results: Value,
    pub figures: Vec<Figure>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn new(bench: &'static str, title: &'static str) -> Self {
        Self {
            bench,
            title,
            started_utc: utc_timestamp(std::time::SystemTime::now()),
            params: json!({}),
            results: json!({}),
            figures: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn figure(&mut self, name: impl Into<String>, value: impl Into<String>, target: impl Into<String>) {
        let f = Figure { name: name.into(), value: value.into(), target: target.into() };
        println!("  {:<58} {:>16}   target: {}", f.name, f.value, if f.target.is_empty() { "-" } else { &f.target });
        self.figures.push(f);
    }

    pub fn note(&mut self, text: impl Into<String>) {
        let text = text.into();
        println!("  note: {text}");
        self.notes.push(text);
    }

    /// Writes the JSON and markdown files; returns the JSON file's path.
    pub fn write(&self, opts: &Options, machine: &Machine) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(&opts.out)?;
        let stem = format!("{}-{}", self.bench, self.started_utc);
        let json_path = opts.out.join(format!("{stem}.json"));
        let doc = json!({
            "bench": self.bench,
            "title": self.title,
            "timestamp_utc": self.started_utc,
            "quick": opts.quick,
            "command": opts.command_line,
            "params": self.params,
            "machine": machine.to_json(),
            "results": self.results,
            "figures": self.figures.iter().map(|f| json!({"name": f.name, "value": f.value, "target": f.target})).collect::<Vec<_>>(),
            "notes": self.notes,
        });
        std::fs::write(&json_path, serde_json::to_string_pretty(&doc)? + "\n")?;
        std::fs::write(opts.out.join(format!("{stem}.md")), self.markdown(opts, machine))?;
        println!("  result: {}", json_path.display());
        Ok(json_path)
    }

    pub fn markdown(&self, opts: &Options, machine: &Machine) -> String {
        let mut md = format!("### {} — {}\n\n", self.bench.to_uppercase(), self.title);
        md += &format!(
            "- date: {} (UTC)\n- machine: {}\n- command: `{}`\n",
            self.started_utc,
            machine.short(),
            opts.command_line
        );
        if opts.quick {
            md += "- **quick run (small N): a smoke check, not representative**\n";
        }
        md += "\n| figure | value | target |\n| --- | ---: | --- |\n";
        for f in &self.figures {
            md += &format!("| {} | {} | {} |\n", f.name, f.value, if f.target.is_empty() { "—" } else { &f.target });
        }
        for n in &self.notes {
            md += &format!("\nNote: {n}\n");
        }
        md
    }
}

/// `YYYYMMDDTHHMMSSZ` of a time (UTC), for file names and reports.
pub fn utc_timestamp(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `1.234 ms`.
pub fn fmt_ms(v: Option<f64>) -> String {
    v.map(|v| if v >= 100.0 { format!("{v:.0} ms") } else { format!("{v:.2} ms") }).unwrap_or_else(|| "—".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_709_210_096); // 2024-02-29 12:34:56
        assert_eq!(utc_timestamp(t), "20240229T123456Z");
        assert_eq!(utc_timestamp(std::time::UNIX_EPOCH), "19700101T000000Z");
    }
}

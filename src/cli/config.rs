//! `--config FILE`: a TOML file's keys become flags placed before the command line's own.

use anyhow::{bail, Context};

/// Expand `--config FILE` into flags placed before the command line's own, so that flags given
/// on the command line win. Keys are long flag names (`max_tokens` or `max-tokens`).
pub fn expand_config(args: Vec<String>) -> anyhow::Result<Vec<String>> {
    // Arguments after `--` belong to another command line (`cluster ... -- throughput ...`).
    let end = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let pos = args[..end]
        .iter()
        .position(|a| a == "--config" || a.starts_with("--config="));
    let Some(pos) = pos else {
        return Ok(args);
    };
    let path = if let Some(p) = args[pos].strip_prefix("--config=") {
        p.to_string()
    } else {
        args.get(pos + 1)
            .cloned()
            .context("--config needs a file path")?
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("--config {path}: cannot read the file"))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("--config {path}: invalid TOML"))?;
    let mut injected = Vec::new();
    for (key, value) in &table {
        let flag = format!("--{}", key.replace('_', "-"));
        let mut push = |v: &toml::Value| -> anyhow::Result<()> {
            match v {
                toml::Value::Boolean(true) => injected.push(flag.clone()),
                toml::Value::Boolean(false) => {}
                toml::Value::String(s) => injected.extend([flag.clone(), s.clone()]),
                toml::Value::Integer(i) => injected.extend([flag.clone(), i.to_string()]),
                toml::Value::Float(f) => injected.extend([flag.clone(), f.to_string()]),
                other => bail!("--config {path}: key {key:?} has an unsupported value {other}"),
            }
            Ok(())
        };
        match value {
            // A suite's [[tier]] list belongs to the command, not to flags.
            toml::Value::Array(items) if key == "tier" && items.iter().all(|i| i.is_table()) => {}
            toml::Value::Table(_) | toml::Value::Array(_)
                if matches!(value, toml::Value::Table(_))
                    || value
                        .as_array()
                        .is_some_and(|a| a.iter().any(|i| i.is_table())) =>
            {
                bail!("--config {path}: unknown table [{key}] (only a suite's [[tier]] list is a table)")
            }
            toml::Value::Array(items) => {
                for it in items {
                    push(it)?;
                }
            }
            v => push(v)?,
        }
    }
    // Insert right after the subcommand name (the first non-flag argument after the binary).
    let sub = args
        .iter()
        .skip(1)
        .position(|a| !a.starts_with('-'))
        .map(|i| i + 2)
        .unwrap_or(1);
    let mut out = args[..sub.min(args.len())].to_vec();
    out.extend(injected);
    out.extend(args[sub.min(args.len())..].iter().cloned());
    Ok(out)
}

/// The `--config` key behind a parse error: an unknown flag that the file, not the command
/// line, brought in.
pub fn config_key_of(e: &clap::Error, given: &[String], expanded: &[String]) -> Option<String> {
    if e.kind() != clap::error::ErrorKind::UnknownArgument {
        return None;
    }
    let clap::error::ContextValue::String(arg) = e.get(clap::error::ContextKind::InvalidArg)?
    else {
        return None;
    };
    let from_file = expanded.contains(arg) && !given.contains(arg);
    from_file.then(|| arg.trim_start_matches('-').replace('-', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    #[test]
    fn config_keys_become_flags_and_command_line_wins() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "runs = 3\nmax_tokens = 64\nstream = true\nheader = ['A: 1', 'B: 2']\n",
        )
        .unwrap();
        let args: Vec<String> = [
            "llmbench",
            "run",
            "--config",
            p.to_str().unwrap(),
            "--runs",
            "9",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let expanded = expand_config(args).unwrap();
        let cli = Cli::try_parse_from(&expanded).unwrap();
        let Command::Run(r) = cli.command else {
            panic!("run expected")
        };
        assert_eq!(r.runs, 9);
        assert_eq!(r.max_tokens, 64);
        assert!(r.stream);
        assert_eq!(r.target.headers, vec!["A: 1", "B: 2"]);
    }

    #[test]
    fn unknown_config_key_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "runz = 3\n").unwrap();
        let args: Vec<String> = ["llmbench", "run", "--config", p.to_str().unwrap()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let err = Cli::try_parse_from(expand_config(args).unwrap()).unwrap_err();
        assert!(err.to_string().contains("--runz"), "{err}");
    }
}

//! The two arms of an A/B (`ttft`, `sweep`, `throughput`): the baseline is the session's
//! target (`--url`); the treatment is a second server (`--compare-url`), or the same server
//! after `--treatment-cmd` (and `--baseline-cmd` before each baseline phase).
//!
//! `sweep` and `throughput` run each level on both arms, one after the other, so that each
//! server sees exactly the level's load and never both at once (they may share a machine); the
//! order alternates by level (baseline first, then treatment first, ...) so that neither arm
//! always runs first on a warmer or cooler server.

use anyhow::{bail, Context};

use crate::client::Client;
use crate::plan::{AbPlan, Common};
use crate::result::LevelParams;
use crate::target::{self, Target};
use crate::workload::Workload;

pub const BASELINE: usize = 0;
pub const TREATMENT: usize = 1;
pub const NAMES: [&str; 2] = ["baseline", "treatment"];

pub struct Arms {
    /// The treatment server and its workload (its own model), with `--compare-url`.
    treatment: Option<(Target, Workload)>,
    /// `--baseline-cmd` and `--treatment-cmd`.
    cmds: Option<[String; 2]>,
    /// The arm whose command ran last (a command runs only when the arm changes).
    current: Option<usize>,
    base_url: String,
}

impl Arms {
    /// The arms of `ab`, or None when it is not an A/B. Resolves the treatment server (its own
    /// first model, unless `--model` names one for both); `count_with_tokenizer` as
    /// [`crate::session::Session::bind`].
    pub async fn open(
        ab: &AbPlan,
        common: &Common,
        base: &Target,
        workload: &Workload,
        count_with_tokenizer: bool,
    ) -> anyhow::Result<Option<Arms>> {
        if !ab.on() {
            return Ok(None);
        }
        if common.target.virtual_time {
            bail!("--virtual-time does not run A/B comparisons: drop --compare-url and --baseline-cmd");
        }
        let treatment = match &ab.compare_url {
            Some(url) => {
                // The treatment is one server: the baseline's replicas and fallbacks are its own.
                let plan = crate::plan::TargetPlan {
                    url: Some(url.clone()),
                    replicas: Vec::new(),
                    fallbacks: Vec::new(),
                    ..common.target.clone()
                };
                let mut b = target::resolve(&plan, common.stream, common.max_connections).await?;
                if !common.output.quiet {
                    eprintln!("treatment: {} (model {})", b.describe(), b.info.model);
                }
                let mut wb = workload.clone();
                wb.opts.model = b.info.model.clone();
                if count_with_tokenizer {
                    b.client.set_tokenizer(workload.tokenizer.clone());
                }
                Some((b, wb))
            }
            None => None,
        };
        let cmds = match (&ab.baseline_cmd, &ab.treatment_cmd) {
            (Some(b), Some(t)) => Some([b.clone(), t.clone()]),
            _ => None,
        };
        Ok(Some(Arms {
            treatment,
            cmds,
            current: None,
            base_url: base.info.url.clone(),
        }))
    }

    /// The order of the arms at level `i`: baseline first at even levels, treatment first at
    /// odd ones.
    pub fn order(i: usize) -> [usize; 2] {
        if i.is_multiple_of(2) {
            [BASELINE, TREATMENT]
        } else {
            [TREATMENT, BASELINE]
        }
    }

    /// Switch to arm `k`: run its command when the arm changes; the client and workload that
    /// serve it (`base` is the session's).
    pub fn enter<'a>(
        &'a mut self,
        k: usize,
        base: (&'a Client, &'a Workload),
    ) -> anyhow::Result<(&'a Client, &'a Workload)> {
        if let Some(cmds) = &self.cmds {
            if self.current != Some(k) {
                run_cmd(&cmds[k], NAMES[k])?;
            }
        }
        self.current = Some(k);
        Ok(match (&self.treatment, k) {
            (Some((t, w)), TREATMENT) => (&t.client, w),
            _ => base,
        })
    }

    /// Level parameters naming arm `k`: its server and its command.
    pub fn params(&self, k: usize, mut p: LevelParams) -> LevelParams {
        p.arm = Some(NAMES[k].to_string());
        p.url = Some(match (&self.treatment, k) {
            (Some((t, _)), TREATMENT) => t.info.url.clone(),
            _ => self.base_url.clone(),
        });
        p.cmd = self.cmds.as_ref().map(|c| c[k].clone());
        p
    }

    pub fn treatment_url(&self) -> Option<String> {
        self.treatment.as_ref().map(|(t, _)| t.info.url.clone())
    }

    pub async fn shutdown(self) {
        if let Some((t, _)) = self.treatment {
            t.shutdown().await;
        }
    }
}

/// The level index of arm `k` at level `i` (levels 2i and 2i + 1).
pub fn level_index(i: usize, k: usize) -> u32 {
    (2 * i + k) as u32
}

/// The arms to run at level `i`, in order (the one arm without an A/B).
pub fn order(arms: &Option<Arms>, i: usize) -> Vec<usize> {
    match arms {
        Some(_) => Arms::order(i).to_vec(),
        None => vec![BASELINE],
    }
}

/// One arm at one level: the level's index, name and parameters, and what serves it (or why
/// its command failed).
pub struct Slot<'a> {
    pub index: u32,
    pub name: String,
    pub params: LevelParams,
    pub serve: Result<(&'a Client, &'a Workload), String>,
}

impl<'a> Slot<'a> {
    /// Enter arm `k` of level `i` named `name` (without an A/B, the level itself, served by
    /// `base`).
    pub fn enter(
        arms: &'a mut Option<Arms>,
        (i, k): (usize, usize),
        name: String,
        params: LevelParams,
        base: (&'a Client, &'a Workload),
    ) -> Slot<'a> {
        match arms {
            Some(a) => Slot {
                index: level_index(i, k),
                name: format!("{name} / {}", NAMES[k]),
                params: a.params(k, params),
                serve: a.enter(k, base).map_err(|e| format!("{e:#}")),
            },
            None => Slot {
                index: i as u32,
                name,
                params,
                serve: Ok(base),
            },
        }
    }
}

fn run_cmd(cmd: &str, phase: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("sh")
        .args(["-c", cmd])
        .status()
        .with_context(|| format!("--{phase}-cmd: cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("--{phase}-cmd {cmd:?} failed ({status})");
    }
    Ok(())
}

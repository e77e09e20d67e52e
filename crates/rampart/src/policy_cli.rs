//! `rampart policy`: the policy engine offline, on files, with the reason.

use std::path::PathBuf;
use std::process::ExitCode;

use rampart_policy::{
    evaluate, lint, missing_context_keys, Context, Decision, Policy, PolicyKind, PolicyRef, PolicySet, Request,
};

#[derive(clap::Subcommand)]
pub enum PolicyCommand {
    /// Checks policy documents as IAM does; prints IAM's error for each invalid one,
    /// and for valid ones warnings from AWS's action catalog (unknown actions or
    /// condition keys, operators unsuited to a key's type). Exits 1 only if one is invalid.
    Validate {
        /// Policy documents (JSON files).
        files: Vec<PathBuf>,
    },
    /// Decides one request against identity policies (and a boundary), and says why.
    /// Exits 0 when allowed, 1 when denied, 2 on bad input.
    Eval {
        /// An identity-based policy (repeatable).
        #[arg(long = "policy", required = true)]
        policies: Vec<PathBuf>,
        /// A permissions boundary.
        #[arg(long)]
        boundary: Option<PathBuf>,
        /// The action, e.g. iam:GetUser.
        #[arg(long)]
        action: String,
        /// The resource ARN.
        #[arg(long, default_value = "*")]
        resource: String,
        /// A condition key and value, e.g. aws:SourceIp=10.1.2.3 (repeatable; repeat a key for several values).
        #[arg(long = "context", value_name = "KEY=VALUE")]
        context: Vec<String>,
    },
}

/// The file's name and text, with the policy it holds.
fn read(path: &PathBuf) -> Result<(String, String, Policy), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let policy = Policy::parse(&text, PolicyKind::Identity)
        .map_err(|e| format!("{}: MalformedPolicyDocument: {e}", path.display()))?;
    Ok((path.display().to_string(), text, policy))
}

fn load(path: &PathBuf) -> Result<(String, Policy), String> {
    read(path).map(|(name, _, policy)| (name, policy))
}

pub fn run(command: PolicyCommand) -> ExitCode {
    match command {
        PolicyCommand::Validate { files } => {
            let mut ok = true;
            for file in &files {
                match read(file) {
                    Ok((name, text, _)) => {
                        println!("{name}: valid");
                        for finding in lint(&text) {
                            println!("{name}: warning: {finding}");
                        }
                    }
                    Err(e) => {
                        println!("{e}");
                        ok = false;
                    }
                }
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        PolicyCommand::Eval { policies, boundary, action, resource, context } => {
            let loaded: Result<Vec<_>, String> = policies.iter().map(load).collect();
            let boundary = boundary.as_ref().map(load).transpose();
            let (loaded, boundary) = match (loaded, boundary) {
                (Ok(l), Ok(b)) => (l, b),
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("rampart: {e}");
                    return ExitCode::from(2);
                }
            };
            let mut ctx = Context::new();
            let mut pairs: Vec<(String, Vec<String>)> = Vec::new();
            for entry in &context {
                let Some((key, value)) = entry.split_once('=') else {
                    eprintln!("rampart: --context wants KEY=VALUE, not `{entry}`");
                    return ExitCode::from(2);
                };
                match pairs.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
                    Some((_, values)) => values.push(value.to_string()),
                    None => pairs.push((key.to_string(), vec![value.to_string()])),
                }
            }
            for (key, values) in pairs {
                ctx.set_all(&key, values);
            }
            let set = PolicySet {
                identity: loaded.iter().map(|(name, policy)| PolicyRef { name, policy }).collect(),
                boundary: boundary.as_ref().map(|(name, policy)| PolicyRef { name, policy }),
                ..Default::default()
            };
            let request = Request::identity(&action, &resource, &ctx);
            let decision = evaluate(&request, &set);
            let describe = |s: &rampart_policy::StatementId| {
                let sid = s.sid.as_deref().map(|sid| format!(" (Sid {sid})")).unwrap_or_default();
                format!("{}, statement {}{sid}", s.policy, s.index + 1)
            };
            match &decision {
                Decision::Allow { statement } => println!("allowed: by {}", describe(statement)),
                Decision::ExplicitDeny { source, statement } => {
                    println!("explicitDeny: in the {source:?} policies, by {}", describe(statement))
                }
                Decision::ImplicitDeny { missing } => {
                    println!("implicitDeny: no {missing:?} policy statement allows it")
                }
            }
            let missing = missing_context_keys(&request, &set);
            if !missing.is_empty() {
                println!("missing context keys: {}", missing.join(", "));
            }
            if decision.is_allowed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}

//! Runs a test migration set in its own process: `godwit-test-runner <set> <url> up|down|status`.
//! Prints one line per event and a last line `applied N`, `nothing to do`, `reverted N` or
//! `error: ...`
//! (exit code 1). The runner tests spawn it to kill a run midway or start several at once.

use std::process::ExitCode;
use std::time::Duration;

use godwit::Migrator;
use godwit::graph::Target;
use godwit_tests::sets;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [set, url, command] = args.as_slice() else {
        eprintln!("usage: godwit-test-runner <set> <url> up|down|status");
        return ExitCode::FAILURE;
    };
    let Some(entries) = sets::by_name(set) else {
        eprintln!("unknown set `{set}`");
        return ExitCode::FAILURE;
    };
    let result = async {
        let mut migrator = Migrator::connect_with_registry(url, sets::registry(entries))
            .await
            .map_err(|e| e.to_string())?
            .lock_timeout(Duration::from_secs(120))
            .on_event(|event| println!("event {event:?}"));
        match command.as_str() {
            "up" => {
                let report = migrator.up().await.map_err(|e| e.to_string())?;
                Ok(if report.nothing_to_do() {
                    "nothing to do".to_owned()
                } else {
                    format!("applied {}", report.applied.join(","))
                })
            }
            "down" => {
                let report = migrator
                    .downgrade(&[Target::base()])
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(format!("reverted {}", report.reverted.join(",")))
            }
            "status" => {
                let status = migrator.status().await.map_err(|e| e.to_string())?;
                Ok(status
                    .migrations
                    .iter()
                    .map(|m| format!("{}={}", m.id, m.state.label()))
                    .collect::<Vec<_>>()
                    .join(" "))
            }
            other => Err(format!("unknown command `{other}`")),
        }
    }
    .await;
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

//! Runs a test migration set in its own process: `godwit-test-runner <set> <url> up|down|status`,
//! or copies between two databases at the set's point: `godwit-test-runner <set> <from> copy
//! <to> <batch size>`.
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
    let (set, url, command, rest) = match args.as_slice() {
        [set, url, command, rest @ ..] => (set, url, command, rest),
        _ => {
            eprintln!("usage: godwit-test-runner <set> <url> up|down|status|copy …");
            return ExitCode::FAILURE;
        }
    };
    let Some(entries) = sets::by_name(set) else {
        eprintln!("unknown set `{set}`");
        return ExitCode::FAILURE;
    };
    if command == "copy" {
        let [to, batch_size] = rest else {
            eprintln!("usage: godwit-test-runner <set> <from> copy <to> <batch size>");
            return ExitCode::FAILURE;
        };
        let options = godwit::copy::CopyOptions {
            batch_size: batch_size.parse().expect("a batch size"),
            ..Default::default()
        };
        let registry = sets::registry(entries);
        let copied = godwit::copy::copy(&registry, url, to, &options, |event| {
            println!("event {event:?}")
        })
        .await;
        return match copied {
            Ok(report) => {
                println!("copied {}", report.rows_copied());
                ExitCode::SUCCESS
            }
            Err(e) => {
                println!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
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

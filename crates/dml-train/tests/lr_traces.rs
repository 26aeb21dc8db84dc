//! The learning rate of every parameter group at every optimizer step of the seed systems'
//! README runs equals the seed's own schedule: PyTorch's StepLR / MultiStepLR traces (LDM,
//! PaddlePaddle's piecewise decay, the online-metric-learning seed's scheduler stepped before
//! the optimizer) and MindSpore's `lr_generator.get_lr` array, from
//! tests/fixtures/schedules/lr_traces.json (tools/gen_lr_traces.py).

use std::path::PathBuf;

use dml_train::config::ParamGroup;
use dml_train::optim::{RunPosition, group_lr};
use dml_train::run::resolve_command_line;
use serde_json::Value;

fn group(name: &str) -> ParamGroup {
    match name {
        "backbone" => ParamGroup::Backbone,
        "head" => ParamGroup::Head,
        "loss" => ParamGroup::Loss,
        "margins" => ParamGroup::Margins,
        other => panic!("unknown group {other}"),
    }
}

#[test]
fn every_step_of_the_seed_runs_gets_the_seed_s_learning_rate() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/schedules/lr_traces.json");
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json");
    let cases = fixture["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 8);
    let dir = tempfile::tempdir().expect("tempdir");
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let mut argv: Vec<String> =
            vec!["train".into(), case["seed"].as_str().expect("seed").into()];
        argv.extend(case["args"].as_str().expect("args").split_whitespace().map(str::to_string));
        if let Some(d) = case.get("mindspore_config") {
            let file = dir.path().join(format!("{name}.json"));
            std::fs::write(&file, d.to_string()).expect("write");
            argv.extend(["--config".into(), file.to_string_lossy().into_owned()]);
        }
        let config = resolve_command_line(&argv).unwrap_or_else(|e| panic!("{name}: {e}"));
        let spe = case["steps_per_epoch"].as_u64().expect("steps") as usize;
        let tol = case["tolerance"].as_f64().expect("tolerance");
        let total = config.run.length.steps(spe);
        for (g, runs) in case["groups"].as_object().expect("groups") {
            let mut checked = 0;
            for run in runs.as_array().expect("runs") {
                let r = run.as_array().expect("run");
                let (first, last) =
                    (r[0].as_u64().unwrap() as usize, r[1].as_u64().unwrap() as usize);
                let expected = r[2].as_f64().expect("lr");
                for step in first..=last {
                    let at = RunPosition { step, epoch: step / spe, steps_per_epoch: spe };
                    let lr = group_lr(&config, group(g), at);
                    assert!(
                        (lr - expected).abs() <= tol * expected.abs(),
                        "{name}, {g}, step {step}: {lr} vs the seed's {expected}"
                    );
                    checked += 1;
                }
            }
            assert_eq!(checked, total, "{name}, {g}: the trace covers the whole run");
        }
    }
}

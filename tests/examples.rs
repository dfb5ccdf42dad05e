//! Cross-crate checks on the shipped examples: every bundled world spec loads, the example action
//! script parses (reverie_core) and replays deterministically in every world (reverie_world).

use std::path::Path;
use std::sync::Arc;

use reverie::core::{Intrinsics, script};
use reverie::world::episode::{self, EpisodeStart};
use reverie::world::policy::PolicyKind;
use reverie::world::{Renderer, World, WorldSpec};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_world_spec_in_worlds_loads() {
    let mut n = 0;
    for entry in std::fs::read_dir(root().join("worlds")).expect("worlds/ exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            WorldSpec::load(&path).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 4, "at least four bundled worlds, found {n}");
}

#[test]
fn example_tour_replays_identically_in_every_world() {
    let actions = Arc::new(
        script::load(&root().join("examples/scripts/tour.jsonl")).unwrap_or_else(|e| panic!("{e}")),
    );
    assert!(actions.len() > 100, "the tour is a few seconds long");
    let k = Intrinsics::from_vfov_deg(24, 16, 70.0).expect("valid camera");
    for name in ["meadow", "canyon", "forest", "village"] {
        let spec = Arc::new(
            WorldSpec::load(&root().join(format!("worlds/{name}.toml")))
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let run = || {
            let mut world = World::new(spec.clone());
            let mut policy = PolicyKind::Script {
                path: "tour".into(),
                actions: actions.clone(),
            }
            .build(0);
            let mut out = Vec::new();
            episode::run(
                &mut world,
                &Renderer::new(&spec),
                &k,
                policy.as_mut(),
                EpisodeStart {
                    seed: 0,
                    steps: actions.len() + 1,
                },
                |_, f, _| {
                    out.push((f.pose, f.content_hash()));
                    Ok::<(), ()>(())
                },
            )
            .unwrap_or_else(|()| panic!("sink never fails"));
            out
        };
        let (a, b) = (run(), run());
        assert_eq!(a, b, "{name}: same script, same frames");
        let walked = (a[a.len() - 1].0.position - a[0].0.position).length();
        assert!(
            walked > 5.0,
            "{name}: the tour walks somewhere ({walked} m)"
        );
    }
}

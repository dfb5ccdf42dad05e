//! The worlds the picker offers: every spec in the starting world's folder, with its prompt.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use reverie_core::Intrinsics;
use reverie_runtime::Prompt;
use reverie_world::spec::GeneratorKind;
use reverie_world::{WorldSpec, episode};

/// A world the player can start in.
#[derive(Clone, Debug)]
pub struct WorldEntry {
    /// Its display name (the spec's `name`).
    pub name: String,
    /// The spec file.
    pub path: PathBuf,
    /// The seed of the starting place.
    pub seed: u64,
    /// Which generator (picks the ambient sound).
    pub kind: GeneratorKind,
    /// Its spawn view at the model's resolution: the session prompt, and the picker's thumbnail.
    pub prompt: Prompt,
}

impl WorldEntry {
    /// Loads the spec and renders the spawn view of `seed` (the only oracle frame a session uses).
    pub fn load(path: &Path, seed: u64, k: &Intrinsics) -> Result<WorldEntry> {
        let spec = WorldSpec::load(path)?;
        let name = spec.name.clone();
        let kind = spec.generator.kind;
        let f = episode::spawn_view(spec, seed, k);
        Ok(WorldEntry {
            name,
            path: path.to_path_buf(),
            seed,
            kind,
            prompt: Prompt {
                rgb: f.rgb,
                depth_m: Some(f.depth_m),
                pose: f.pose,
            },
        })
    }
}

/// The other specs in `first`'s folder (sorted; files that fail to load are skipped with a
/// warning, they do not stop the app).
pub fn siblings(first: &Path, seed: u64, k: &Intrinsics) -> Vec<WorldEntry> {
    let dir = first
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect(),
        Err(_) => Vec::new(),
    };
    paths.sort();
    paths
        .iter()
        .filter(|p| !same_file(p, first))
        .filter_map(|p| {
            match WorldEntry::load(p, seed, k).with_context(|| p.display().to_string()) {
                Ok(w) => Some(w),
                Err(e) => {
                    bevy::log::warn!("world picker: skipping {e:#}");
                    None
                }
            }
        })
        .collect()
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

//! World specs: the `worlds/*.toml` files that define an oracle world.
//!
//! ```toml
//! schema_version = 1
//! name = "Meadow"
//! description = "Rolling hills with oaks and ponds"
//!
//! [generator]
//! kind = "meadow"        # meadow | canyon | forest | village | flat
//! seed = 1
//! base_height = 24       # blocks; ground level before hills
//! hill_height = 9        # blocks; amplitude of the hills
//! hill_scale = 64.0      # blocks; horizontal size of a hill
//! water_level = 22       # blocks; water fills below this level
//! feature_density = 1.0  # 0..4, multiplies trees / houses / rocks
//! size = 0               # 0: unbounded; else the side of the square playable area, >= 512
//!
//! [palette]              # optional colour overrides, by material name
//! grass = "#6aa84f"                        # every face
//! snow = { top = "#ffffff", side = "#8a6444" }   # per face (top, side, bottom)
//!
//! [sky]
//! zenith = "#3f6fc4"
//! horizon = "#b9d3ef"
//! clouds = 0.4           # 0..1 cloud cover
//!
//! [sun]
//! azimuth_deg = 140.0    # compass bearing: 0 = north (-z), 90 = east (+x)
//! elevation_deg = 50.0   # 5..90
//! color = "#fff1d6"
//! strength = 0.75        # 0..2, direct light
//! ambient = 0.45         # 0..1, sky light
//! shadows = true
//!
//! [fog]
//! color = "#b9d3ef"      # default: the sky's horizon
//! start = 48.0           # blocks
//! end = 96.0             # blocks, at most MAX_VIEW_DISTANCE
//!
//! [spawn]
//! radius = 256           # episodes start within this many blocks of the origin
//! avoid_water = true
//! ```
//!
//! Unknown fields are errors; every error names the file, the line and the field.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::block::{Block, Material};

/// The schema version this build reads.
pub const SCHEMA_VERSION: u32 = 1;

/// Farthest a ray travels, in blocks (the resident window of the world must cover it).
pub const MAX_VIEW_DISTANCE: f32 = 110.0;

/// A colour, written `"#rrggbb"` in specs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub [u8; 3]);

impl Rgb {
    /// Components scaled to 0..1.
    pub fn to_f32(self) -> [f32; 3] {
        self.0.map(|c| f32::from(c) / 255.0)
    }
}

impl fmt::Display for Rgb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.0[0], self.0[1], self.0[2])
    }
}

impl std::str::FromStr for Rgb {
    type Err = String;
    fn from_str(s: &str) -> Result<Rgb, String> {
        let hex = s.strip_prefix('#').unwrap_or(s);
        if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("`{s}` is not a colour: expected \"#rrggbb\""));
        }
        let v = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
        Ok(Rgb([(v >> 16) as u8, (v >> 8) as u8, v as u8]))
    }
}

impl Serialize for Rgb {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rgb {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Rgb, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Which generator builds the terrain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GeneratorKind {
    /// Rolling grass hills, oak trees, ponds with sandy shores, boulders.
    Meadow,
    /// Desert plain with terraced mesas of banded clay, cacti.
    Canyon,
    /// Snowy hills with dense pine forest, rock outcrops, frozen ponds.
    Forest,
    /// Gentle land with roads and stone houses you can walk into, fields, wells.
    Village,
    /// Flat ground and nothing else (tests, experiments).
    Flat,
}

/// `[generator]`: the terrain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorSpec {
    /// Which generator.
    pub kind: GeneratorKind,
    /// World seed: same seed, same world.
    pub seed: u64,
    /// Ground level before hills, in blocks.
    #[serde(default = "d_base")]
    pub base_height: i32,
    /// Hill amplitude, in blocks.
    #[serde(default = "d_hill")]
    pub hill_height: i32,
    /// Horizontal size of a hill, in blocks.
    #[serde(default = "d_scale")]
    pub hill_scale: f32,
    /// Water fills below this level, in blocks.
    #[serde(default = "d_water")]
    pub water_level: i32,
    /// Multiplies the density of trees, houses and rocks (0..4).
    #[serde(default = "d_one")]
    pub feature_density: f32,
    /// 0: unbounded; otherwise the side (>= 512 blocks) of a square area centred on the origin,
    /// beyond which stands a wall of stone.
    #[serde(default)]
    pub size: u32,
}

/// A `[palette]` entry: one colour for every face, or per face.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PaletteEntry {
    /// `"#rrggbb"`: every face.
    All(Rgb),
    /// `{ top = .., side = .., bottom = .. }`: the faces given.
    Faces {
        /// Top face.
        #[serde(default)]
        top: Option<Rgb>,
        /// Side faces.
        #[serde(default)]
        side: Option<Rgb>,
        /// Bottom face.
        #[serde(default)]
        bottom: Option<Rgb>,
    },
}

/// `[sky]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkySpec {
    /// Colour straight up.
    #[serde(default = "d_zenith")]
    pub zenith: Rgb,
    /// Colour at the horizon.
    #[serde(default = "d_horizon")]
    pub horizon: Rgb,
    /// Cloud cover, 0..1.
    #[serde(default = "d_clouds")]
    pub clouds: f32,
}

/// `[sun]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SunSpec {
    /// Compass bearing of the sun in degrees: 0 = north (-z), 90 = east (+x).
    #[serde(default = "d_azimuth")]
    pub azimuth_deg: f32,
    /// Height of the sun above the horizon in degrees (5..90).
    #[serde(default = "d_elevation")]
    pub elevation_deg: f32,
    /// Colour of direct sunlight.
    #[serde(default = "d_sun_color")]
    pub color: Rgb,
    /// Strength of direct light (0..2).
    #[serde(default = "d_strength")]
    pub strength: f32,
    /// Strength of sky (ambient) light (0..1).
    #[serde(default = "d_ambient")]
    pub ambient: f32,
    /// Whether blocks cast shadows.
    #[serde(default = "d_true")]
    pub shadows: bool,
}

/// `[fog]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FogSpec {
    /// Fog colour (default: the sky's horizon).
    #[serde(default)]
    pub color: Option<Rgb>,
    /// Distance where fog begins, in blocks.
    #[serde(default = "d_fog_start")]
    pub start: f32,
    /// Distance where fog is total, in blocks (at most [`MAX_VIEW_DISTANCE`]).
    #[serde(default = "d_fog_end")]
    pub end: f32,
}

/// `[spawn]`: where episodes start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpawnSpec {
    /// Episodes start within this many blocks of the origin.
    #[serde(default = "d_radius")]
    pub radius: f32,
    /// Never start on water.
    #[serde(default = "d_true")]
    pub avoid_water: bool,
}

/// A whole world spec (one `worlds/*.toml` file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldSpec {
    /// Must be [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Display name.
    pub name: String,
    /// One line about the world.
    #[serde(default)]
    pub description: String,
    /// Terrain.
    pub generator: GeneratorSpec,
    /// Colour overrides by material name.
    #[serde(default)]
    pub palette: BTreeMap<String, PaletteEntry>,
    /// Sky.
    #[serde(default)]
    pub sky: SkySpec,
    /// Sun and light.
    #[serde(default)]
    pub sun: SunSpec,
    /// Fog.
    #[serde(default)]
    pub fog: FogSpec,
    /// Spawn rules.
    #[serde(default)]
    pub spawn: SpawnSpec,
}

fn d_base() -> i32 {
    24
}
fn d_hill() -> i32 {
    8
}
fn d_scale() -> f32 {
    64.0
}
fn d_water() -> i32 {
    21
}
fn d_one() -> f32 {
    1.0
}
fn d_true() -> bool {
    true
}
fn d_zenith() -> Rgb {
    Rgb([0x3f, 0x6f, 0xc4])
}
fn d_horizon() -> Rgb {
    Rgb([0xb9, 0xd3, 0xef])
}
fn d_clouds() -> f32 {
    0.35
}
fn d_azimuth() -> f32 {
    140.0
}
fn d_elevation() -> f32 {
    50.0
}
fn d_sun_color() -> Rgb {
    Rgb([0xff, 0xf1, 0xd6])
}
fn d_strength() -> f32 {
    0.75
}
fn d_ambient() -> f32 {
    0.45
}
fn d_fog_start() -> f32 {
    48.0
}
fn d_fog_end() -> f32 {
    96.0
}
fn d_radius() -> f32 {
    256.0
}

impl Default for SkySpec {
    fn default() -> Self {
        SkySpec {
            zenith: d_zenith(),
            horizon: d_horizon(),
            clouds: d_clouds(),
        }
    }
}
impl Default for SunSpec {
    fn default() -> Self {
        SunSpec {
            azimuth_deg: d_azimuth(),
            elevation_deg: d_elevation(),
            color: d_sun_color(),
            strength: d_strength(),
            ambient: d_ambient(),
            shadows: true,
        }
    }
}
impl Default for FogSpec {
    fn default() -> Self {
        FogSpec {
            color: None,
            start: d_fog_start(),
            end: d_fog_end(),
        }
    }
}
impl Default for SpawnSpec {
    fn default() -> Self {
        SpawnSpec {
            radius: d_radius(),
            avoid_water: true,
        }
    }
}

/// A world spec that could not be read: names the file, the line (when known) and the field.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct SpecError {
    /// The spec file.
    pub path: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Dotted field path (`fog.end`), when known.
    pub field: Option<String>,
    /// What is wrong and what was expected (starts with the field when known).
    pub message: String,
}

impl WorldSpec {
    /// Reads and validates a spec file.
    pub fn load(path: &Path) -> Result<WorldSpec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|e| SpecError {
            path: path.to_path_buf(),
            line: None,
            field: None,
            message: format!("cannot read the world spec: {e}"),
        })?;
        WorldSpec::parse(&text, path)
    }

    /// Parses and validates spec text; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<WorldSpec, SpecError> {
        let spec: WorldSpec = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of_offset(text, s.start));
            let field = line.and_then(|l| field_at_line(text, l));
            let mut message = e.message().trim().to_string();
            if message.contains("did not match any variant of untagged enum PaletteEntry") {
                message =
                    "expected a colour \"#rrggbb\" or a table { top = .., side = .., bottom = .. }"
                        .into();
            }
            let message = match &field {
                Some(f) if !message.contains(f.rsplit('.').next().unwrap_or(f)) => {
                    format!("{f}: {message}")
                }
                _ => message,
            };
            SpecError {
                path: path.to_path_buf(),
                line,
                field,
                message,
            }
        })?;
        spec.validate().map_err(|(field, message)| SpecError {
            path: path.to_path_buf(),
            line: line_of_field(text, &field),
            message: format!("{field}: {message}"),
            field: Some(field),
        })?;
        Ok(spec)
    }

    /// Checks ranges and names; on failure returns the dotted field and what was expected.
    pub fn validate(&self) -> Result<(), (String, String)> {
        fn range<T: PartialOrd + fmt::Display + Copy>(
            field: &str,
            v: T,
            lo: T,
            hi: T,
        ) -> Result<(), (String, String)> {
            if v >= lo && v <= hi {
                Ok(())
            } else {
                Err((
                    field.to_string(),
                    format!("{v} is out of range, expected {lo} ..= {hi}"),
                ))
            }
        }
        fn finite(field: &str, v: f32) -> Result<(), (String, String)> {
            if v.is_finite() {
                Ok(())
            } else {
                Err((field.to_string(), format!("{v} is not a finite number")))
            }
        }
        if self.schema_version != SCHEMA_VERSION {
            return Err((
                "schema_version".into(),
                format!(
                    "{} is not supported, expected {SCHEMA_VERSION}",
                    self.schema_version
                ),
            ));
        }
        if self.name.trim().is_empty() {
            return Err(("name".into(), "must not be empty".into()));
        }
        let g = &self.generator;
        range("generator.base_height", g.base_height, 4, 44)?;
        range("generator.hill_height", g.hill_height, 0, 24)?;
        if g.base_height + g.hill_height > 48 {
            return Err((
                "generator.hill_height".into(),
                format!(
                    "base_height + hill_height = {} leaves no room for trees and houses, expected <= 48",
                    g.base_height + g.hill_height
                ),
            ));
        }
        finite("generator.hill_scale", g.hill_scale)?;
        range("generator.hill_scale", g.hill_scale, 8.0, 1024.0)?;
        range("generator.water_level", g.water_level, 0, 44)?;
        finite("generator.feature_density", g.feature_density)?;
        range("generator.feature_density", g.feature_density, 0.0, 4.0)?;
        if g.size != 0 {
            range("generator.size", g.size, 512, 1_000_000)?;
        }
        for name in self.palette.keys() {
            if Block::from_name(name).is_none_or(|b| b == Block::Air) {
                let names: Vec<&str> = crate::block::MATERIALS[1..]
                    .iter()
                    .map(|m| m.name)
                    .collect();
                return Err((
                    format!("palette.{name}"),
                    format!("unknown material, expected one of: {}", names.join(", ")),
                ));
            }
        }
        finite("sky.clouds", self.sky.clouds)?;
        range("sky.clouds", self.sky.clouds, 0.0, 1.0)?;
        finite("sun.azimuth_deg", self.sun.azimuth_deg)?;
        range("sun.azimuth_deg", self.sun.azimuth_deg, -360.0, 360.0)?;
        finite("sun.elevation_deg", self.sun.elevation_deg)?;
        range("sun.elevation_deg", self.sun.elevation_deg, 5.0, 90.0)?;
        finite("sun.strength", self.sun.strength)?;
        range("sun.strength", self.sun.strength, 0.0, 2.0)?;
        finite("sun.ambient", self.sun.ambient)?;
        range("sun.ambient", self.sun.ambient, 0.0, 1.0)?;
        finite("fog.start", self.fog.start)?;
        finite("fog.end", self.fog.end)?;
        range("fog.end", self.fog.end, 8.0, MAX_VIEW_DISTANCE)?;
        range("fog.start", self.fog.start, 0.0, self.fog.end - 1.0)?;
        finite("spawn.radius", self.spawn.radius)?;
        range("spawn.radius", self.spawn.radius, 0.0, 100_000.0)?;
        Ok(())
    }

    /// The material of `block` after the palette overrides.
    pub fn material(&self, block: Block) -> Material {
        let mut m = *block.material();
        match self.palette.get(m.name) {
            Some(PaletteEntry::All(c)) => {
                m.top = *c;
                m.side = *c;
                m.bottom = *c;
            }
            Some(PaletteEntry::Faces { top, side, bottom }) => {
                m.top = top.unwrap_or(m.top);
                m.side = side.unwrap_or(m.side);
                m.bottom = bottom.unwrap_or(m.bottom);
            }
            None => {}
        }
        m
    }

    /// The fog colour (the horizon's when not given).
    pub fn fog_color(&self) -> Rgb {
        self.fog.color.unwrap_or(self.sky.horizon)
    }

    /// Unit vector towards the sun in the world frame.
    pub fn sun_direction(&self) -> glam::Vec3 {
        let az = self.sun.azimuth_deg.to_radians();
        let el = self.sun.elevation_deg.to_radians();
        // Bearing 0 = north = -z, 90 = east = +x (the same convention as yaw).
        glam::Vec3::new(az.sin() * el.cos(), el.sin(), -az.cos() * el.cos()).normalize()
    }
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The `[table]` header and key on a line, as a dotted field (`fog.end`).
fn field_at_line(text: &str, line: usize) -> Option<String> {
    let mut table = String::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.starts_with('[') {
            table = l.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        }
        if i + 1 == line {
            if l.starts_with('[') {
                return Some(table);
            }
            let key = l.split('=').next()?.trim().trim_matches('"');
            if key.is_empty() {
                return None;
            }
            return Some(if table.is_empty() {
                key.to_string()
            } else {
                format!("{table}.{key}")
            });
        }
    }
    None
}

/// The line where a dotted field (`fog.end`, `palette.grass`) is written, if it is.
fn line_of_field(text: &str, field: &str) -> Option<usize> {
    let (table, key) = match field.rsplit_once('.') {
        Some((t, k)) => (t, k),
        None => ("", field),
    };
    let mut current = String::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.starts_with('[') {
            current = l.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            continue;
        }
        let Some((k, _)) = l.split_once('=') else {
            continue;
        };
        let k = k.trim().trim_matches('"');
        if current == table && k == key {
            return Some(i + 1);
        }
        // Dotted keys at the top level (`fog.end = 3`).
        if current.is_empty() && k == field {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r##"schema_version = 1
name = "Test"
[generator]
kind = "meadow"
seed = 5
[fog]
start = 10.0
end = 90.0
"##;

    fn parse(text: &str) -> Result<WorldSpec, SpecError> {
        WorldSpec::parse(text, Path::new("worlds/test.toml"))
    }

    #[test]
    fn good_spec_parses_with_defaults() {
        let s = parse(GOOD).expect("valid spec");
        assert_eq!(s.generator.kind, GeneratorKind::Meadow);
        assert_eq!(s.fog.end, 90.0);
        assert_eq!(s.sun.elevation_deg, 50.0);
    }

    #[test]
    fn unknown_field_names_file_line_and_field() {
        let e = parse(&GOOD.replace("seed = 5", "seed = 5\nsede = 6")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("worlds/test.toml:6:"), "{msg}");
        assert!(msg.contains("sede"), "{msg}");
    }

    #[test]
    fn out_of_range_names_the_field_and_line() {
        let e = parse(&GOOD.replace("end = 90.0", "end = 500.0")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("fog.end"));
        assert_eq!(e.line, Some(8));
        assert!(e.to_string().contains("fog.end: 500"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_field() {
        let e = parse(&GOOD.replace("seed = 5", "seed = \"five\"")).unwrap_err();
        assert_eq!(e.line, Some(5));
        assert!(e.to_string().contains("generator.seed"), "{e}");
    }

    #[test]
    fn missing_field_and_bad_colour_and_palette() {
        let e = parse(&GOOD.replace("seed = 5\n", "")).unwrap_err();
        assert!(e.to_string().contains("seed"), "{e}");
        let e = parse(&format!("{GOOD}[sky]\nzenith = \"blue\"\n")).unwrap_err();
        assert!(
            e.to_string().contains("sky.zenith") && e.to_string().contains("#rrggbb"),
            "{e}"
        );
        let e = parse(&format!("{GOOD}[palette]\ngras = \"#00ff00\"\n")).unwrap_err();
        assert!(
            e.to_string().contains("palette.gras") && e.line == Some(10),
            "{e}"
        );
        let s = parse(&format!(
            "{GOOD}[palette]\ngrass = {{ top = \"#00ff00\" }}\n"
        ))
        .expect("valid palette");
        assert_eq!(s.material(Block::Grass).top, Rgb([0, 255, 0]));
    }

    #[test]
    fn malformed_toml_is_an_error_not_a_panic() {
        for text in [
            "",
            "[[[",
            "schema_version = ",
            "\u{0}\u{1}",
            "schema_version = 2\nname=\"x\"\n[generator]\nkind=\"flat\"\nseed=1",
        ] {
            assert!(parse(text).is_err(), "{text:?}");
        }
    }
}

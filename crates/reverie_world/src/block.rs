//! Block kinds and their materials.

use crate::spec::Rgb;

/// One voxel. `Air` is 0; every other kind is an opaque, solid block (water too: it is walked on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Block {
    /// Empty space.
    Air = 0,
    /// Grass-topped soil.
    Grass,
    /// Soil.
    Dirt,
    /// Rock.
    Stone,
    /// Beach and dune sand.
    Sand,
    /// Still water (a flat, walkable surface).
    Water,
    /// Oak trunk.
    Log,
    /// Oak foliage.
    Leaves,
    /// Pine trunk.
    PineLog,
    /// Pine needles with snow on top.
    PineLeaves,
    /// Snow-covered soil.
    Snow,
    /// Frozen water.
    Ice,
    /// Desert rock.
    Sandstone,
    /// Red desert sand.
    RedSand,
    /// Orange clay strata.
    Terracotta,
    /// Pale clay strata.
    TerracottaLight,
    /// Dark brown clay strata.
    TerracottaDark,
    /// Desert plant.
    Cactus,
    /// Rough building stone.
    Cobblestone,
    /// Dressed building stone.
    StoneBrick,
    /// Wooden boards.
    Planks,
    /// Window glass (opaque here).
    Glass,
    /// Road gravel.
    Gravel,
    /// Roof tiles.
    Roof,
    /// A glowing lantern (emissive).
    Lantern,
    /// A shelf of books.
    Bookshelf,
    /// Crops on tilled soil.
    Crops,
    /// Whitewashed plaster.
    Plaster,
}

/// Number of block kinds (including air).
pub const BLOCK_KINDS: usize = 28;

/// How a block's texture is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// Grainy noise.
    Grain,
    /// Grain with darker blotches.
    Blotchy,
    /// Soil side with a fringe of the top colour.
    Fringe,
    /// Bark: vertical streaks.
    Bark,
    /// Tree rings (log ends).
    Rings,
    /// Foliage speckles.
    Speckle,
    /// Running-bond bricks.
    Bricks,
    /// Horizontal boards.
    Boards,
    /// Rounded stones.
    Cobbles,
    /// Framed panes.
    Pane,
    /// Gentle ripples.
    Ripples,
    /// Horizontal bands.
    Bands,
    /// Vertical ribs.
    Ribs,
    /// Overlapping tiles.
    Tiles,
    /// A framed glow.
    Glow,
    /// Shelves with books.
    Books,
    /// Crop rows.
    Rows,
}

/// A block's look: a base colour per face group and how it is patterned.
#[derive(Clone, Copy, Debug)]
pub struct Material {
    /// Name used in world specs (`[palette]`).
    pub name: &'static str,
    /// Default colour of the top face.
    pub top: Rgb,
    /// Default colour of the sides.
    pub side: Rgb,
    /// Default colour of the bottom face.
    pub bottom: Rgb,
    /// Top-face pattern.
    pub top_pattern: Pattern,
    /// Side pattern.
    pub side_pattern: Pattern,
    /// Whether it glows (ignores lighting).
    pub emissive: bool,
}

const fn rgb(hex: u32) -> Rgb {
    Rgb([(hex >> 16) as u8, (hex >> 8) as u8, hex as u8])
}

const fn mat(
    name: &'static str,
    top: u32,
    side: u32,
    bottom: u32,
    top_pattern: Pattern,
    side_pattern: Pattern,
) -> Material {
    Material {
        name,
        top: rgb(top),
        side: rgb(side),
        bottom: rgb(bottom),
        top_pattern,
        side_pattern,
        emissive: false,
    }
}

use Pattern::*;

/// Every block's default material, indexed by `Block as usize`.
pub const MATERIALS: [Material; BLOCK_KINDS] = [
    mat("air", 0, 0, 0, Grain, Grain),
    mat("grass", 0x6a_a8_4f, 0x86_60_43, 0x86_60_43, Grain, Fringe),
    mat("dirt", 0x86_60_43, 0x86_60_43, 0x86_60_43, Blotchy, Blotchy),
    mat(
        "stone", 0x8a_8a_8c, 0x80_80_82, 0x78_78_7a, Blotchy, Blotchy,
    ),
    mat("sand", 0xdb_cf_a0, 0xd6_ca_98, 0xd0_c4_92, Grain, Grain),
    mat(
        "water", 0x3a_6e_c8, 0x35_64_b8, 0x30_5a_a8, Ripples, Ripples,
    ),
    mat("log", 0x9c_7a_4c, 0x5e_45_2a, 0x9c_7a_4c, Rings, Bark),
    mat(
        "leaves", 0x3f_8a_2e, 0x3a_80_2a, 0x35_75_26, Speckle, Speckle,
    ),
    mat("pine_log", 0x8a_6a_42, 0x4a_36_22, 0x8a_6a_42, Rings, Bark),
    mat(
        "pine_leaves",
        0xe8_f0_f2,
        0x2c_5a_3a,
        0x26_4e_32,
        Speckle,
        Speckle,
    ),
    mat("snow", 0xf2_f6_fa, 0x86_60_43, 0x86_60_43, Grain, Fringe),
    mat("ice", 0xa8_cc_f0, 0x9c_c2_ea, 0x90_b8_e0, Ripples, Grain),
    mat(
        "sandstone",
        0xd8_c8_8e,
        0xc9_b3_78,
        0xc0_aa_70,
        Grain,
        Bands,
    ),
    mat("red_sand", 0xc4_6a_32, 0xbc_64_2e, 0xb4_5e_2a, Grain, Grain),
    mat(
        "terracotta",
        0xb8_5e_34,
        0xa8_56_30,
        0xa0_50_2c,
        Grain,
        Bands,
    ),
    mat(
        "terracotta_light",
        0xd6_a2_7c,
        0xcc_98_72,
        0xc4_90_6a,
        Grain,
        Bands,
    ),
    mat(
        "terracotta_dark",
        0x6e_44_32,
        0x66_3e_2e,
        0x60_3a_2a,
        Grain,
        Bands,
    ),
    mat("cactus", 0x5c_8c_36, 0x4e_80_2e, 0x4e_80_2e, Rings, Ribs),
    mat(
        "cobblestone",
        0x7c_7c_7c,
        0x74_74_74,
        0x70_70_70,
        Cobbles,
        Cobbles,
    ),
    mat(
        "stone_brick",
        0x9a_96_90,
        0x92_8e_88,
        0x8a_86_80,
        Bricks,
        Bricks,
    ),
    mat("planks", 0xb0_84_50, 0xa8_7c_4a, 0xa0_76_46, Boards, Boards),
    mat("glass", 0xc8_e6_f2, 0xb4_dc_ee, 0xb4_dc_ee, Pane, Pane),
    mat(
        "gravel", 0x8e_86_7e, 0x86_7e_76, 0x80_78_70, Blotchy, Blotchy,
    ),
    mat("roof", 0x9a_3a_2c, 0x8a_34_28, 0x7a_2e_24, Tiles, Tiles),
    Material {
        emissive: true,
        ..mat("lantern", 0xff_d2_7a, 0xff_c8_6a, 0xe0_a0_50, Glow, Glow)
    },
    mat(
        "bookshelf",
        0xa8_7c_4a,
        0x7a_4a_2a,
        0xa8_7c_4a,
        Boards,
        Books,
    ),
    mat("crops", 0x7c_a8_3a, 0x6a_4e_34, 0x6a_4e_34, Rows, Fringe),
    mat("plaster", 0xe6_e0_d2, 0xe0_da_cc, 0xd8_d2_c4, Grain, Grain),
];

impl Block {
    /// Every block kind, indexed by its id.
    pub const ALL: [Block; BLOCK_KINDS] = [
        Block::Air,
        Block::Grass,
        Block::Dirt,
        Block::Stone,
        Block::Sand,
        Block::Water,
        Block::Log,
        Block::Leaves,
        Block::PineLog,
        Block::PineLeaves,
        Block::Snow,
        Block::Ice,
        Block::Sandstone,
        Block::RedSand,
        Block::Terracotta,
        Block::TerracottaLight,
        Block::TerracottaDark,
        Block::Cactus,
        Block::Cobblestone,
        Block::StoneBrick,
        Block::Planks,
        Block::Glass,
        Block::Gravel,
        Block::Roof,
        Block::Lantern,
        Block::Bookshelf,
        Block::Crops,
        Block::Plaster,
    ];

    /// The block with this id, or `None` for an unknown id.
    pub fn from_id(id: u8) -> Option<Block> {
        Block::ALL.get(id as usize).copied()
    }

    /// The block id.
    pub const fn id(self) -> u8 {
        self as u8
    }

    /// Whether it blocks movement and rays (everything but air).
    pub const fn is_solid(self) -> bool {
        !matches!(self, Block::Air)
    }

    /// Its default material.
    pub fn material(self) -> &'static Material {
        &MATERIALS[self as usize]
    }

    /// Looks a block up by its palette name.
    pub fn from_name(name: &str) -> Option<Block> {
        Block::ALL
            .iter()
            .copied()
            .find(|b| b.material().name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_names_and_tables_agree() {
        for (i, b) in Block::ALL.iter().enumerate() {
            assert_eq!(b.id() as usize, i);
            assert_eq!(Block::from_id(i as u8), Some(*b));
            assert_eq!(Block::from_name(b.material().name), Some(*b));
        }
        assert_eq!(Block::from_id(BLOCK_KINDS as u8), None);
    }
}

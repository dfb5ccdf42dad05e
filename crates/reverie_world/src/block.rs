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
    mat("grass", 0x6aa84f, 0x866043, 0x866043, Grain, Fringe),
    mat("dirt", 0x866043, 0x866043, 0x866043, Blotchy, Blotchy),
    mat("stone", 0x8a8a8c, 0x808082, 0x78787a, Blotchy, Blotchy),
    mat("sand", 0xdbcfa0, 0xd6ca98, 0xd0c492, Grain, Grain),
    mat("water", 0x3a6ec8, 0x3564b8, 0x305aa8, Ripples, Ripples),
    mat("log", 0x9c7a4c, 0x5e452a, 0x9c7a4c, Rings, Bark),
    mat("leaves", 0x3f8a2e, 0x3a802a, 0x357526, Speckle, Speckle),
    mat("pine_log", 0x8a6a42, 0x4a3622, 0x8a6a42, Rings, Bark),
    mat(
        "pine_leaves",
        0xe8f0f2,
        0x2c5a3a,
        0x264e32,
        Speckle,
        Speckle,
    ),
    mat("snow", 0xf2f6fa, 0x866043, 0x866043, Grain, Fringe),
    mat("ice", 0xa8ccf0, 0x9cc2ea, 0x90b8e0, Ripples, Grain),
    mat("sandstone", 0xd8c88e, 0xc9b378, 0xc0aa70, Grain, Bands),
    mat("red_sand", 0xc46a32, 0xbc642e, 0xb45e2a, Grain, Grain),
    mat("terracotta", 0xb85e34, 0xa85630, 0xa0502c, Grain, Bands),
    mat(
        "terracotta_light",
        0xd6a27c,
        0xcc9872,
        0xc4906a,
        Grain,
        Bands,
    ),
    mat(
        "terracotta_dark",
        0x6e4432,
        0x663e2e,
        0x603a2a,
        Grain,
        Bands,
    ),
    mat("cactus", 0x5c8c36, 0x4e802e, 0x4e802e, Rings, Ribs),
    mat(
        "cobblestone",
        0x7c7c7c,
        0x747474,
        0x707070,
        Cobbles,
        Cobbles,
    ),
    mat("stone_brick", 0x9a9690, 0x928e88, 0x8a8680, Bricks, Bricks),
    mat("planks", 0xb08450, 0xa87c4a, 0xa07646, Boards, Boards),
    mat("glass", 0xc8e6f2, 0xb4dcee, 0xb4dcee, Pane, Pane),
    mat("gravel", 0x8e867e, 0x867e76, 0x807870, Blotchy, Blotchy),
    mat("roof", 0x9a3a2c, 0x8a3428, 0x7a2e24, Tiles, Tiles),
    Material {
        emissive: true,
        ..mat("lantern", 0xffd27a, 0xffc86a, 0xe0a050, Glow, Glow)
    },
    mat("bookshelf", 0xa87c4a, 0x7a4a2a, 0xa87c4a, Boards, Books),
    mat("crops", 0x7ca83a, 0x6a4e34, 0x6a4e34, Rows, Fringe),
    mat("plaster", 0xe6e0d2, 0xe0dacc, 0xd8d2c4, Grain, Grain),
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

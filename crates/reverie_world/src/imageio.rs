//! Writing pictures: PNG stills, PNG sequences and animated GIFs (written to a temporary file, then
//! renamed, so a failed write never leaves a half picture under the final name).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// An error while writing a picture; names the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct ImageError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

fn err(path: &Path, e: impl std::fmt::Display) -> ImageError {
    ImageError {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The temporary name a file is written under before it is renamed into place.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}

/// Writes `write` to `path.partial`, then renames it to `path`.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<(), String>,
) -> Result<(), ImageError> {
    let tmp = partial_path(path);
    let file = File::create(&tmp).map_err(|e| err(path, format!("cannot create: {e}")))?;
    let mut w = BufWriter::new(file);
    let result = write(&mut w).and_then(|()| w.flush().map_err(|e| e.to_string()));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(path, e));
    }
    drop(w);
    std::fs::rename(&tmp, path).map_err(|e| err(path, format!("cannot rename into place: {e}")))
}

/// Encodes an RGB8 image as PNG into `w`.
pub fn encode_png(w: impl Write, width: u32, height: u32, rgb: &[u8]) -> Result<(), String> {
    let mut enc = png::Encoder::new(w, width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())
}

/// Writes an RGB8 image as a PNG file.
pub fn write_png(path: &Path, width: u32, height: u32, rgb: &[u8]) -> Result<(), ImageError> {
    if rgb.len() != 3 * width as usize * height as usize {
        return Err(err(
            path,
            format!(
                "image buffer holds {} bytes, expected {}",
                rgb.len(),
                3 * width as usize * height as usize
            ),
        ));
    }
    write_atomically(path, |w| encode_png(w, width, height, rgb))
}

/// Reads a PNG file as RGB8 (grey and RGBA are converted); returns (width, height, rgb).
pub fn read_png(path: &Path) -> Result<(u32, u32, Vec<u8>), ImageError> {
    let file = File::open(path).map_err(|e| err(path, e))?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| err(path, e))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| err(path, "image too large"))?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(|e| err(path, e))?;
    buf.truncate(info.buffer_size());
    let channels = info.color_type.samples();
    let rgb = match channels {
        3 => buf,
        4 => buf
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        1 => buf.iter().flat_map(|&g| [g, g, g]).collect(),
        2 => buf
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0]])
            .collect(),
        n => return Err(err(path, format!("unsupported PNG with {n} channels"))),
    };
    Ok((info.width, info.height, rgb))
}

/// Streams frames into an animated GIF (256-colour NeuQuant palette per frame).
pub struct GifWriter {
    path: PathBuf,
    encoder: Option<gif::Encoder<BufWriter<File>>>,
    width: u16,
    height: u16,
    delay_cs: u16,
}

impl GifWriter {
    /// Starts `path` (written as `path.partial` until [`GifWriter::finish`]) at `fps` frames/s.
    pub fn create(path: &Path, width: u32, height: u32, fps: f32) -> Result<GifWriter, ImageError> {
        let (w, h) = (
            u16::try_from(width).map_err(|_| err(path, "too wide for GIF"))?,
            u16::try_from(height).map_err(|_| err(path, "too tall for GIF"))?,
        );
        let file = File::create(partial_path(path))
            .map_err(|e| err(path, format!("cannot create: {e}")))?;
        let mut encoder =
            gif::Encoder::new(BufWriter::new(file), w, h, &[]).map_err(|e| err(path, e))?;
        encoder
            .set_repeat(gif::Repeat::Infinite)
            .map_err(|e| err(path, e))?;
        Ok(GifWriter {
            path: path.to_path_buf(),
            encoder: Some(encoder),
            width: w,
            height: h,
            delay_cs: (100.0 / fps.max(1.0)).round() as u16,
        })
    }

    /// Appends one RGB8 frame.
    pub fn push(&mut self, rgb: &[u8]) -> Result<(), ImageError> {
        let Some(enc) = self.encoder.as_mut() else {
            return Err(err(&self.path, "already finished"));
        };
        if rgb.len() != 3 * self.width as usize * self.height as usize {
            return Err(err(&self.path, "frame size changed"));
        }
        let mut frame = gif::Frame::from_rgb_speed(self.width, self.height, rgb, 10);
        frame.delay = self.delay_cs;
        enc.write_frame(&frame).map_err(|e| err(&self.path, e))
    }

    /// Finishes the file and renames it into place.
    pub fn finish(mut self) -> Result<(), ImageError> {
        let Some(enc) = self.encoder.take() else {
            return Ok(());
        };
        let mut w = enc.into_inner().map_err(|e| err(&self.path, e))?;
        w.flush().map_err(|e| err(&self.path, e))?;
        drop(w);
        std::fs::rename(partial_path(&self.path), &self.path)
            .map_err(|e| err(&self.path, format!("cannot rename into place: {e}")))
    }
}

impl std::fmt::Debug for GifWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GifWriter")
            .field("path", &self.path)
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

impl Drop for GifWriter {
    fn drop(&mut self) {
        if self.encoder.take().is_some() {
            let _ = std::fs::remove_file(partial_path(&self.path));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trip_and_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("a.png");
        let rgb: Vec<u8> = (0..4 * 3 * 3).map(|i| (i * 7) as u8).collect();
        write_png(&path, 4, 3, &rgb).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            read_png(&path).unwrap_or_else(|e| panic!("{e}")),
            (4, 3, rgb)
        );
        assert!(!partial_path(&path).exists());
        std::fs::write(&path, b"not a png").unwrap_or_else(|e| panic!("{e}"));
        assert!(read_png(&path).unwrap_err().to_string().contains("a.png"));
        assert!(
            write_png(&path, 4, 4, &[0; 3])
                .unwrap_err()
                .to_string()
                .contains("a.png")
        );
    }
}

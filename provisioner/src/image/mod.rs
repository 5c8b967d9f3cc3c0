//! The function's container image, built without Docker: one layer (see [`layer`]), an OCI image
//! configuration and a single-platform OCI image manifest (Lambda refuses multi-platform
//! indexes), all content-addressed by SHA-256.

pub mod layer;
pub mod push;

use std::path::Path;

use oci_spec::image::{
    Arch, ConfigBuilder, DescriptorBuilder, ImageConfigurationBuilder, ImageManifestBuilder, MediaType, Os,
    RootFsBuilder, SCHEMA_VERSION, Sha256Digest,
};
use sha2::{Digest as _, Sha256};

use crate::error::Error;

pub struct Image {
    /// The gzipped layer, exactly as pushed.
    pub layer: Vec<u8>,
    pub layer_digest: String,
    /// The configuration blob, exactly as pushed.
    pub config: Vec<u8>,
    pub config_digest: String,
    /// The manifest, exactly as pushed: its digest is the image's identity.
    pub manifest: String,
    pub manifest_digest: String,
    /// Paths of the files in the layer, for the report.
    pub files: Vec<String>,
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn oci(error: oci_spec::OciSpecError) -> Error {
    Error::Image(format!("describing the image: {error}"))
}

fn descriptor(media_type: MediaType, bytes: &[u8]) -> Result<oci_spec::image::Descriptor, Error> {
    let digest: Sha256Digest = hex::encode(Sha256::digest(bytes)).parse().map_err(oci)?;
    DescriptorBuilder::default().media_type(media_type).size(bytes.len() as u64).digest(digest).build().map_err(oci)
}

impl Image {
    pub fn build(binary: &Path, ca_bundle: Option<&Path>) -> Result<Self, Error> {
        let contents = layer::Contents::collect(binary, ca_bundle)?;
        let tar = contents.tar()?;
        let layer = layer::gzip(&tar);

        // No creation time or history: both would change the digest of an unchanged binary.
        let run = ConfigBuilder::default()
            .entrypoint(vec![layer::ENTRYPOINT.to_owned()])
            .env(vec![format!("SSL_CERT_FILE={}", layer::CA_BUNDLE)])
            .working_dir("/".to_owned())
            .build()
            .map_err(oci)?;
        let rootfs = RootFsBuilder::default().typ("layers").diff_ids(vec![sha256_digest(&tar)]).build().map_err(oci)?;
        let configuration = ImageConfigurationBuilder::default()
            .architecture(Arch::Amd64)
            .os(Os::Linux)
            .config(run)
            .rootfs(rootfs)
            .build()
            .map_err(oci)?;
        let config = serde_json::to_vec(&configuration).map_err(|e| Error::Image(e.to_string()))?;

        let manifest = ImageManifestBuilder::default()
            .schema_version(SCHEMA_VERSION)
            .media_type(MediaType::ImageManifest)
            .config(descriptor(MediaType::ImageConfig, &config)?)
            .layers(vec![descriptor(MediaType::ImageLayerGzip, &layer)?])
            .build()
            .map_err(oci)?
            .to_string()
            .map_err(oci)?;
        Ok(Self {
            layer_digest: sha256_digest(&layer),
            config_digest: sha256_digest(&config),
            manifest_digest: sha256_digest(manifest.as_bytes()),
            files: contents.paths().map(str::to_owned).collect(),
            layer,
            config,
            manifest,
        })
    }

    /// The media type PutImage is told, the manifest's own.
    pub fn manifest_media_type() -> String {
        MediaType::ImageManifest.to_string()
    }
}

//! Pushing the image through ECR's layer API: blobs the registry already has are skipped, and an
//! image whose manifest is already there is not pushed at all.

use aws_sdk_ecr::primitives::Blob;
use aws_sdk_ecr::types::{ImageIdentifier, LayerAvailability};

use super::Image;
use crate::context::Context;
use crate::error::{Error, absent_as_none};
use crate::report::{Outcome, ResourceReport};

pub const KIND: &str = "image";
/// The largest part sent in one `UploadLayerPart`, whatever part size the registry suggests.
const MAX_PART: usize = 20 * 1024 * 1024;

/// Whether the repository holds the image with this manifest digest.
pub async fn exists(cx: &Context<'_>, manifest_digest: &str) -> Result<bool, Error> {
    let name = &cx.names.repository;
    let id = ImageIdentifier::builder().image_digest(manifest_digest).build();
    // Without `acceptedMediaTypes` ECR assumes the Docker v2 schema types and reports an OCI
    // manifest as a failure (API reference, BatchGetImage → acceptedMediaTypes).
    let request = cx.aws.ecr.batch_get_image().repository_name(name).image_ids(id);
    let found = request.accepted_media_types(Image::manifest_media_type()).send().await;
    let found = absent_as_none(found, &["RepositoryNotFoundException"], "ecr:BatchGetImage", name)?;
    Ok(found.is_some_and(|f| !f.images().is_empty()))
}

/// Pushes `image` to the repository at `repository_uri` unless it is there already; returns the
/// report and the image URI by digest, which is what the function runs.
pub async fn push(cx: &Context<'_>, image: &Image, repository_uri: &str) -> Result<(ResourceReport, String), Error> {
    let uri = format!("{repository_uri}@{}", image.manifest_digest);
    let report = |outcome| ResourceReport::new(KIND, &cx.names.repository, outcome).id(uri.clone());
    if repository_uri.is_empty() {
        // Dry run before the repository exists: the image is known by its digest alone.
        let report = ResourceReport::new(KIND, &cx.names.repository, Outcome::WouldCreate);
        return Ok((report.id(image.manifest_digest.clone()), uri));
    }
    if exists(cx, &image.manifest_digest).await? {
        return Ok((report(Outcome::Unchanged), uri));
    }
    if cx.dry_run {
        return Ok((report(Outcome::WouldCreate), uri));
    }
    let blobs = [(&image.layer_digest, &image.layer), (&image.config_digest, &image.config)];
    let mut uploaded = Vec::new();
    for (digest, bytes) in blobs {
        if !available(cx, digest).await? {
            upload(cx, digest, bytes).await?;
            uploaded.push(format!("uploaded {} ({} bytes)", short(digest), bytes.len()));
        }
    }
    let name = &cx.names.repository;
    let put = cx
        .aws
        .ecr
        .put_image()
        .repository_name(name)
        .image_manifest(&image.manifest)
        .image_manifest_media_type(Image::manifest_media_type())
        .image_digest(&image.manifest_digest);
    match put.send().await {
        Ok(_) => Ok((report(Outcome::Created).changes(uploaded), uri)),
        // The manifest is there already (another deploy pushed it since `exists` looked): the
        // image is what it should be (API reference, PutImage → ImageAlreadyExistsException).
        Err(error) if error.as_service_error().is_some_and(|e| e.is_image_already_exists_exception()) => {
            Ok((report(Outcome::Unchanged).changes(uploaded), uri))
        }
        Err(error) => Err(Error::aws("ecr:PutImage", name, error)),
    }
}

async fn available(cx: &Context<'_>, digest: &str) -> Result<bool, Error> {
    let name = &cx.names.repository;
    let checked = cx.aws.ecr.batch_check_layer_availability().repository_name(name).layer_digests(digest).send().await;
    let checked = checked.map_err(|e| Error::aws("ecr:BatchCheckLayerAvailability", name, e))?;
    Ok(checked
        .layers()
        .iter()
        .any(|l| l.layer_digest() == Some(digest) && l.layer_availability() == Some(&LayerAvailability::Available)))
}

/// One blob, in parts, then checks that the digest the registry computed is ours.
async fn upload(cx: &Context<'_>, digest: &str, bytes: &[u8]) -> Result<(), Error> {
    let (ecr, name) = (&cx.aws.ecr, &cx.names.repository);
    let started = ecr.initiate_layer_upload().repository_name(name).send().await;
    let started = started.map_err(|e| Error::aws("ecr:InitiateLayerUpload", name, e))?;
    let upload_id = started.upload_id().unwrap_or_default().to_owned();
    let part_size = started.part_size().and_then(|p| usize::try_from(p).ok()).filter(|&p| p > 0).unwrap_or(MAX_PART);
    let mut first = 0;
    for part in bytes.chunks(part_size.min(MAX_PART)) {
        let last = first + part.len() - 1;
        ecr.upload_layer_part()
            .repository_name(name)
            .upload_id(&upload_id)
            .part_first_byte(first as i64)
            .part_last_byte(last as i64)
            .layer_part_blob(Blob::new(part))
            .send()
            .await
            .map_err(|e| Error::aws("ecr:UploadLayerPart", name, e))?;
        first = last + 1;
    }
    let completed =
        ecr.complete_layer_upload().repository_name(name).upload_id(&upload_id).layer_digests(digest).send().await;
    let completed = completed.map_err(|e| Error::aws("ecr:CompleteLayerUpload", name, e))?;
    match completed.layer_digest() {
        Some(computed) if computed == digest => Ok(()),
        other => Err(Error::Image(format!("the registry computed digest {other:?} for the blob {digest}"))),
    }
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

/// The image the function runs, looked up in the repository; with no function, whether the
/// repository holds any image at all.
pub async fn status(cx: &Context<'_>, image_uri: Option<String>) -> Result<ResourceReport, Error> {
    let name = &cx.names.repository;
    let present = match image_uri.as_deref().and_then(|uri| uri.split_once('@')) {
        Some((_, digest)) => exists(cx, digest).await?,
        None => {
            let listed = cx.aws.ecr.list_images().repository_name(name).max_results(1).send().await;
            let listed = absent_as_none(listed, &["RepositoryNotFoundException"], "ecr:ListImages", name)?;
            listed.is_some_and(|l| l.image_ids().iter().any(|id: &ImageIdentifier| id.image_digest().is_some()))
        }
    };
    let report = ResourceReport::new(KIND, name, if present { Outcome::Present } else { Outcome::Missing });
    Ok(match image_uri {
        Some(uri) => report.id(uri),
        None => report,
    })
}

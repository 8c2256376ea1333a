#!/usr/bin/env bash
# Build coffer-api and coffer-bot from the repository root and push them to ECR, tagged IMAGE_TAG.
# Run by buildspec.yml's build phase (after `docker login` to the registry):
#
#   IMAGE_TAG=<commit sha> COFFER_API_REPO_URI=... COFFER_BOT_REPO_URI=... deploy/build_images.sh
#
# ECR tags are immutable, so:
# - an image tag that already exists (the pipeline re-run on the same commit) is left as it is;
# - the BuildKit layer cache is exported to a new tag per build, `buildcache-<IMAGE_TAG>`, and the
#   next build imports the newest such tag (registry cache with mode=max also keeps the builder
#   stage, where the dependencies are installed). The ECR lifecycle policy expires old ones.
set -euo pipefail

: "${IMAGE_TAG:?IMAGE_TAG is not set (the commit SHA)}"
: "${COFFER_API_REPO_URI:?COFFER_API_REPO_URI is not set (Terraform sets it on the CodeBuild project)}"
: "${COFFER_BOT_REPO_URI:?COFFER_BOT_REPO_URI is not set (Terraform sets it on the CodeBuild project)}"
PLATFORM="linux/$([ "${COFFER_CPU_ARCHITECTURE:-X86_64}" = "ARM64" ] && echo arm64 || echo amd64)"
BUILDER=coffer-builder

repository_name() { echo "${1#*/}"; }

tag_exists() {
  aws ecr describe-images --repository-name "$(repository_name "$1")" --image-ids "imageTag=$2" >/dev/null 2>&1
}

newest_cache_tag() {
  aws ecr describe-images --repository-name "$(repository_name "$1")" --filter tagStatus=TAGGED \
    --query "reverse(sort_by(imageDetails[?imageTags && starts_with(imageTags[0], 'buildcache-')], &imagePushedAt))[0].imageTags[0]" \
    --output text 2>/dev/null | grep -v '^None$' || true
}

if ! docker buildx inspect "$BUILDER" >/dev/null 2>&1; then
  # The docker-container driver can export a registry cache; the default driver cannot.
  docker buildx create --name "$BUILDER" --driver docker-container >/dev/null
fi

build() {
  local service=$1 repository=$2
  if tag_exists "$repository" "$IMAGE_TAG"; then
    echo "$repository:$IMAGE_TAG exists already (immutable tag): not rebuilt"
    return
  fi
  local cache_from=() previous
  previous=$(newest_cache_tag "$repository")
  if [ -n "$previous" ]; then
    cache_from=(--cache-from "type=registry,ref=$repository:$previous")
    echo "$service: layer cache from $repository:$previous"
  fi
  docker buildx build \
    --builder "$BUILDER" \
    --platform "$PLATFORM" \
    --file "services/$service/Dockerfile" \
    --tag "$repository:$IMAGE_TAG" \
    "${cache_from[@]}" \
    --cache-to "type=registry,ref=$repository:buildcache-$IMAGE_TAG,mode=max,image-manifest=true,oci-mediatypes=true" \
    --provenance=false \
    --push \
    .
  echo "pushed $repository:$IMAGE_TAG"
}

build api "$COFFER_API_REPO_URI"
build bot "$COFFER_BOT_REPO_URI"

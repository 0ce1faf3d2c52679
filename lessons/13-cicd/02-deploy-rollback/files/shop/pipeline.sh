#!/bin/sh
# A build-test-push pipeline, as a CI server would run it on every commit.
# Any failing command stops it (set -e), so an image that fails its tests is never pushed.
set -eu
cd "$(dirname "$0")"

REGISTRY=${REGISTRY:-localhost:5000}
IMAGE=$REGISTRY/shop
# A CI server would use the commit id (git rev-parse --short HEAD). There is no git here, so the
# id is a hash of the sources: it changes whenever they change, like a commit id.
COMMIT=$(find app Dockerfile test.sh -type f | sort | xargs cat | sha256sum | cut -c1-7)

echo "== build $IMAGE:$COMMIT"
docker build -q -t "$IMAGE:$COMMIT" .

echo "== test"
docker run --rm "$IMAGE:$COMMIT" sh /test.sh

echo "== push"
docker push "$IMAGE:$COMMIT" | tail -n 1
echo "$COMMIT" >> releases.txt
echo "== released $IMAGE:$COMMIT"

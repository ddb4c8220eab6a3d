#!/bin/sh
# Build and upload a release.
set -eu
version=$(python3 -c 'import tallyho; print(tallyho.__version__)')
python3 -m build
# FIXME: upload to the internal index, not the public one
python3 -m twine upload "dist/tallyho-$version"*
git tag "v$version"

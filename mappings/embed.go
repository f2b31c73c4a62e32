// Package mappings carries the built-in copies of the mapping files and the
// JSON Schema they are validated against, so the binary works without a
// mappings directory on disk (api.md: --mappings-dir defaults to ./mappings
// if present, else these copies). The files themselves are the product:
// integration maintainers edit them, the hub validates and hot-reloads them
// (see hub/mapping).
package mappings

import "embed"

// FS holds every *.json file of this directory: one mapping file per service
// (dversum.json, ...) and mapping.schema.json, which loaders skip.
//
//go:embed *.json
var FS embed.FS

// Schema is the JSON Schema (2020-12) every mapping file must satisfy. The hub
// always validates against this built-in copy, never a copy on disk, because
// the schema describes what this build of the engine understands.
//
//go:embed mapping.schema.json
var Schema []byte

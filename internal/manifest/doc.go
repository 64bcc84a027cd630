// Package manifest loads bot-bottle's Markdown manifests: it finds bottle and
// agent files, decodes their YAML frontmatter strictly, validates every key,
// and folds bottles (extends and runtime merges) into one resolved bottle
// with the provenance of each value.
//
// Bottles are the security boundary, so this package is deliberately
// unforgiving: unknown keys, YAML features that hide structure (anchors,
// aliases, tags, merge keys, duplicate keys) and retired key shapes are all
// errors with a FILE:LINE:COL position. It never reads secret values: a
// "${HOST_VAR}" is checked for presence only, and nothing here prints one.
package manifest

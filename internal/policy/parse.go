package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxDepth bounds the nesting Parse accepts; a policy nests five deep.
const maxDepth = 16

// Parse reads a policy written by Compile and json.Marshal. It trusts
// nothing: the document must be exactly one JSON object of this version,
// with no unknown, duplicate or differently cased key, and it is validated
// in full. The returned Policy is ready for Lookup and Allows.
func Parse(data []byte) (*Policy, error) {
	if err := checkVersion(data); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Policy
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("decoding policy: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("decoding policy: data after the policy object")
	}
	if err := checkKeys(data); err != nil {
		return nil, fmt.Errorf("decoding policy: %w", err)
	}
	if err := p.prepare(); err != nil {
		return nil, fmt.Errorf("invalid policy: %w", err)
	}
	return &p, nil
}

// checkVersion reports a missing or unsupported version before strict
// decoding, whose complaints about fields a newer version added would hide
// the real problem.
func checkVersion(data []byte) error {
	var probe struct {
		Version json.RawMessage `json:"version"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil // Decode reports it.
	}
	if probe.Version == nil {
		return fmt.Errorf("policy has no version (supported: %d)", Version)
	}
	var v int
	if err := json.Unmarshal(probe.Version, &v); err != nil {
		return fmt.Errorf("policy version %s is not supported (supported: %d)", probe.Version, Version)
	}
	if v != Version {
		return fmt.Errorf("policy version %d is not supported (supported: %d)", v, Version)
	}
	return nil
}

// checkKeys walks data, already known to be one JSON value, and refuses
// what encoding/json lets through: a key given twice in one object (where
// the last would silently win) and a key that is not lowercase (which
// encoding/json would match to a field ignoring case). Every key of the
// policy format is lowercase ASCII and underscores.
func checkKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	return walkKeys(dec, 0)
}

func walkKeys(dec *json.Decoder, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("nested deeper than %d", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := tok.(string)
			if !isFieldKey(key) {
				return fmt.Errorf("key %q is not a policy field", key)
			}
			if seen[key] {
				return fmt.Errorf("key %q appears twice in one object", key)
			}
			seen[key] = true
			if err := walkKeys(dec, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	case json.Delim('['):
		for dec.More() {
			if err := walkKeys(dec, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	}
	return nil
}

func isFieldKey(k string) bool {
	for i := 0; i < len(k); i++ {
		if c := k[i]; (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return k != ""
}

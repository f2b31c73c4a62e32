package store

import "fmt"

// SealString seals a secret for storage. An empty secret stays empty (nil),
// so optional secrets such as a subscription's previous secret need no flag.
func SealString(s Sealer, plaintext string) ([]byte, error) {
	if plaintext == "" {
		return nil, nil
	}
	sealed, err := s.Seal([]byte(plaintext))
	if err != nil {
		return nil, fmt.Errorf("sealing secret: %w", err)
	}
	return sealed, nil
}

// OpenString opens what SealString produced.
func OpenString(s Sealer, sealed []byte) (string, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	pt, err := s.Open(sealed)
	if err != nil {
		return "", fmt.Errorf("opening sealed secret: %w", err)
	}
	return string(pt), nil
}

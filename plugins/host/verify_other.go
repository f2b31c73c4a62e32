//go:build !linux

package host

import (
	"errors"
	"os"
)

var errNoSealedCopy = errors.New("sealed copies are not available")

// sealedCopy is Linux only; elsewhere the caller makes a private copy.
func sealedCopy(*os.File, string, []byte) (string, func(), error) {
	return "", nil, errNoSealedCopy
}

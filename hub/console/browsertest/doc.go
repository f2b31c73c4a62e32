// Package browsertest drives the web console in a real Chromium against a
// real hub process (the switchboard binary built from this tree). The tests
// are behind the build tag browser:
//
//	go test -tags browser -count=1 ./hub/console/browsertest
//
// They need Debian's chromium (or SWITCHBOARD_CHROMIUM naming a binary);
// without one they skip, unless SWITCHBOARD_REQUIRE_BROWSER is set, which
// turns a missing browser into a failure (CI sets it). With
// SWITCHBOARD_SCREENSHOTS=1 they also write the README's screenshots to
// docs/console/.
package browsertest

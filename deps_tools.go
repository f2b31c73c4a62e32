//go:build tools

// Package switchboard pins dependencies that the packages being written next
// will import; it is removed once they do.
package switchboard

import (
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/hashicorp/go-hclog"
	_ "github.com/hashicorp/go-plugin"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "google.golang.org/grpc"
	_ "google.golang.org/protobuf/proto"
)

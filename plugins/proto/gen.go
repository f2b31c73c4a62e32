// Package connectorpb holds the generated gRPC code of connector.proto, the
// wire contract between the hub and connector plugins. Only package plugins
// uses it; connector authors program against plugins.Connector instead.
//
// To regenerate after editing connector.proto, install the tools once
//
//	apt-get install -y protobuf-compiler   # protoc
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@latest
//
// and run `go generate ./plugins/proto` from the repository root. Commit the
// generated files: builds never run protoc.
package connectorpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative connector.proto

// The Go example, live-server tests and interop helper for the generated Go client. They use
// gen/go from this checkout (replace), exactly as another team's module would import it.
module github.com/chatmemory/chatmemory/clients/go

go 1.25.0

require (
	github.com/chatmemory/chatmemory/gen/go v0.0.0
	google.golang.org/grpc v1.84.0
	google.golang.org/protobuf v1.36.12
)

require (
	golang.org/x/net v0.57.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/text v0.40.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260706201446-f0a921348800 // indirect
)

replace github.com/chatmemory/chatmemory/gen/go => ../../gen/go

// Go tools the tests need (today: bbolt-edit, which makes real divergences
// in a stopped etcd member's backend). hack/build-tools.sh builds them into
// the cache; nothing here is part of etcd-monitor itself.
module etcd-monitor.dev/hack/tools

go 1.26.0

require (
	go.etcd.io/bbolt v1.4.3
	go.etcd.io/etcd/api/v3 v3.6.16
)

require (
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/golang/protobuf v1.5.4 // indirect
	golang.org/x/sys v0.49.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)

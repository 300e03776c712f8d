// Wrapper module that builds etcd and etcdctl from the Go module proxy for the
// test bed. hack/build-etcd.sh copies it to a cache directory and pins the
// requested version there, so one checked-in template serves 3.5 and 3.6.
module etcd-monitor.dev/hack/etcd

go 1.24

require (
	go.etcd.io/etcd/etcdctl/v3 v3.6.16
	go.etcd.io/etcd/server/v3 v3.6.16
)

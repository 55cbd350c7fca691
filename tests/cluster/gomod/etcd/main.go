// Command etcd is etcd's server main, wrapped in a module of our own because
// go.etcd.io/etcd/server/v3 carries local replaces and cannot be `go install`ed.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}

// Command bbolt-edit changes one key in the backend of a STOPPED etcd member
// (its member/snap/db bbolt file), to make a real divergence between members
// for the consistency tests. It is a test tool: never point it at a member
// whose data you care about.
//
// etcd's "key" bucket maps revisions to mvccpb.KeyValue protobufs:
//
//	bucket key:   8-byte big-endian main revision, '_', 8-byte big-endian sub revision [, 't' for a tombstone]
//	bucket value: mvccpb.KeyValue{Key, CreateRevision, ModRevision, Version, Value, Lease}
//
// A member rebuilds its in-memory index from this bucket at start, so after
// an edit the member serves the edited history: a rewritten value changes its
// HashKV (and what reads return) while its key count stays the same; a
// removed entry makes it miss that revision of the key (and the whole key
// when it was the key's only revision), which changes both its hash and its
// key count.
//
// Usage:
//
//	bbolt-edit -db PATH get KEY
//	bbolt-edit -db PATH set-value KEY VALUE
//	bbolt-edit -db PATH [-all-revisions] [-force] delete KEY
//
// PATH is the bbolt file or the member's data dir (member/snap/db is
// appended). Every command prints the entry it read or changed as one JSON
// line. The database is opened with a short lock timeout, so a running member
// (which holds the file lock) makes it fail instead of corrupting a live file.
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

var keyBucket = []byte("key")

const (
	revKeyLen       = 8 + 1 + 8
	tombstoneKeyLen = revKeyLen + 1
	tombstoneMarker = 't'
)

type revision struct {
	Main int64 `json:"main"`
	Sub  int64 `json:"sub"`
}

type entry struct {
	bucketKey []byte
	rev       revision
	tombstone bool
	kv        mvccpb.KeyValue
}

type report struct {
	Action             string   `json:"action"`
	Key                string   `json:"key"`
	Revision           revision `json:"revision"`
	Tombstone          bool     `json:"tombstone"`
	CreateRevision     int64    `json:"createRevision"`
	ModRevision        int64    `json:"modRevision"`
	Version            int64    `json:"version"`
	Value              string   `json:"value"`
	NewValue           *string  `json:"newValue,omitempty"`
	Revisions          int      `json:"revisions"`
	RemovedRevisions   int      `json:"removedRevisions,omitempty"`
	RemainingRevisions *int     `json:"remainingRevisions,omitempty"`
}

func parseBucketKey(k []byte) (revision, bool, error) {
	switch {
	case len(k) == revKeyLen && k[8] == '_':
	case len(k) == tombstoneKeyLen && k[8] == '_' && k[revKeyLen] == tombstoneMarker:
	default:
		return revision{}, false, fmt.Errorf("unexpected key-bucket key %x", k)
	}
	rev := revision{
		Main: int64(binary.BigEndian.Uint64(k[0:8])),
		Sub:  int64(binary.BigEndian.Uint64(k[9:17])),
	}
	return rev, len(k) == tombstoneKeyLen, nil
}

// revisionsOf returns every entry of userKey in revision order, and the
// highest revision key of the whole bucket.
func revisionsOf(b *bolt.Bucket, userKey []byte) ([]entry, []byte, error) {
	var found []entry
	var last []byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		last = k
		var kv mvccpb.KeyValue
		if err := kv.Unmarshal(v); err != nil {
			return nil, nil, fmt.Errorf("decoding the value at %x: %w", k, err)
		}
		if !bytes.Equal(kv.Key, userKey) {
			continue
		}
		rev, tombstone, err := parseBucketKey(k)
		if err != nil {
			return nil, nil, err
		}
		// bbolt reuses the memory of k and v after the transaction: copy.
		found = append(found, entry{bucketKey: append([]byte(nil), k...), rev: rev, tombstone: tombstone, kv: kv})
	}
	return found, append([]byte(nil), last...), nil
}

func describe(action string, e entry, total int) report {
	return report{
		Action:         action,
		Key:            string(e.kv.Key),
		Revision:       e.rev,
		Tombstone:      e.tombstone,
		CreateRevision: e.kv.CreateRevision,
		ModRevision:    e.kv.ModRevision,
		Version:        e.kv.Version,
		Value:          string(e.kv.Value),
		Revisions:      total,
	}
}

func dbPath(p string) (string, error) {
	info, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if info.IsDir() {
		p = filepath.Join(p, "member", "snap", "db")
		if _, err := os.Stat(p); err != nil {
			return "", err
		}
	}
	return p, nil
}

func run(args []string) (report, error) {
	fs := flag.NewFlagSet("bbolt-edit", flag.ContinueOnError)
	db := fs.String("db", "", "bbolt file (member/snap/db) or member data dir")
	all := fs.Bool("all-revisions", false, "delete: remove every revision of the key, not only the latest")
	force := fs.Bool("force", false, "delete: allow removing the highest revision of the whole store (the member then reuses revisions and diverges everywhere)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: bbolt-edit -db PATH get KEY | set-value KEY VALUE | [-all-revisions] [-force] delete KEY")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return report{}, err
	}
	rest := fs.Args()
	if *db == "" || len(rest) < 2 {
		fs.Usage()
		return report{}, errors.New("missing -db or command")
	}
	command, userKey := rest[0], []byte(rest[1])
	wantArgs := map[string]int{"get": 2, "set-value": 3, "delete": 2}
	if n, ok := wantArgs[command]; !ok || len(rest) != n {
		fs.Usage()
		return report{}, fmt.Errorf("bad command line: %q", rest)
	}
	path, err := dbPath(*db)
	if err != nil {
		return report{}, err
	}

	// Same options as etcd: no freelist sync, so the file stays as etcd writes it.
	opts := &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType, ReadOnly: command == "get"}
	bdb, err := bolt.Open(path, 0o600, opts)
	if err != nil {
		return report{}, fmt.Errorf("opening %s (is the member stopped?): %w", path, err)
	}
	defer bdb.Close()

	var out report
	txn := bdb.Update
	if command == "get" {
		txn = bdb.View
	}
	err = txn(func(tx *bolt.Tx) error {
		b := tx.Bucket(keyBucket)
		if b == nil {
			return errors.New("no \"key\" bucket: not an etcd v3 backend")
		}
		entries, last, err := revisionsOf(b, userKey)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			return fmt.Errorf("key %q not found in the key bucket", userKey)
		}
		latest := entries[len(entries)-1]
		switch command {
		case "get":
			out = describe("get", latest, len(entries))
			return nil
		case "set-value":
			if latest.tombstone {
				return fmt.Errorf("key %q is deleted (tombstone at revision %d)", userKey, latest.rev.Main)
			}
			out = describe("set-value", latest, len(entries))
			newValue := rest[2]
			out.NewValue = &newValue
			kv := latest.kv
			kv.Value = []byte(newValue)
			data, err := kv.Marshal()
			if err != nil {
				return err
			}
			return b.Put(latest.bucketKey, data)
		case "delete":
			victims := entries[len(entries)-1:]
			if *all {
				victims = entries
			}
			for _, v := range victims {
				if bytes.Equal(v.bucketKey, last) && !*force {
					return fmt.Errorf("revision %d is the highest of the store: removing it would make the member reuse revisions (use -force, or write another key first)", v.rev.Main)
				}
			}
			out = describe("delete", latest, len(entries))
			for _, v := range victims {
				if err := b.Delete(v.bucketKey); err != nil {
					return err
				}
			}
			remaining := len(entries) - len(victims)
			out.RemovedRevisions = len(victims)
			out.RemainingRevisions = &remaining
			return nil
		}
		return fmt.Errorf("unknown command %q", command)
	})
	return out, err
}

func main() {
	out, err := run(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "bbolt-edit: %v\n", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "bbolt-edit: %v\n", err)
		os.Exit(1)
	}
}

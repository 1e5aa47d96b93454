// Command ferretdb runs FerretDB 1.24 (a MongoDB wire-protocol server) on its embedded SQLite
// backend, for local development and tests of the Canopée services. It stops on SIGTERM/SIGINT.
//
//	ferretdb -listen 127.0.0.1:27017 -dir /abs/data/dir   serve until SIGTERM (-synchronous normal)
//	ferretdb -ping 127.0.0.1:27017                        one MongoDB `ping` command; exit 0 if ok
//	ferretdb ... -debug-addr 127.0.0.1:6060               also serve Go's /debug/pprof/ (profiling)
//
// FerretDB's own command (`go install .../cmd/ferretdb`) builds but panics at start-up because its
// version file is not in the module zip; the embeddable package below has no such problem.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // served only with -debug-addr
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dir := flag.String("dir", "", "directory of the SQLite databases (created if missing)")
	level := flag.String("log-level", "error", "log level: debug, info, warn, error "+
		"(warn logs every failed command in full)")
	synchronous := flag.String("synchronous", "normal", "SQLite synchronous setting: off, normal or full. "+
		"With WAL, normal survives a crash of this process and skips the fsync of every commit "+
		"(a power cut may lose the last commits): right for a development and test store")
	ping := flag.String("ping", "", "do not serve: send a MongoDB ping to this host:port and exit 0 if it answers ok")
	timeout := flag.Duration("timeout", 2*time.Second, "time limit of -ping")
	debugAddr := flag.String("debug-addr", "", "also serve Go's /debug/pprof/ on this host:port (off when empty); "+
		"e.g. go tool pprof -top http://127.0.0.1:6060/debug/pprof/profile?seconds=10")
	flag.Parse()

	if *ping != "" {
		if err := doPing(*ping, *timeout); err != nil {
			fmt.Fprintf(os.Stderr, "ferretdb: ping %s: %v\n", *ping, err)
			os.Exit(1)
		}
		return
	}

	if *dir == "" {
		fmt.Fprintln(os.Stderr, "ferretdb: -dir is required")
		os.Exit(2)
	}
	abs, err := filepath.Abs(*dir)
	if err == nil {
		err = os.MkdirAll(abs, 0o755)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: data directory: %v\n", err)
		os.Exit(1)
	}

	switch *synchronous {
	case "off", "normal", "full":
	default:
		fmt.Fprintf(os.Stderr, "ferretdb: -synchronous: expected off, normal or full, got %q\n", *synchronous)
		os.Exit(2)
	}

	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: -log-level: %v\n", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))

	// Config fields as of FerretDB v1.24.2 (package ferretdb): Listener{TCP, Unix, TLS, TLSCertFile,
	// TLSKeyFile, TLSCAFile}, Logger, Handler ("postgresql" or "sqlite"), PostgreSQLURL, SQLiteURL.
	// SQLiteURL is a directory URI ending with "/" (one .sqlite file per database); New() already
	// binds the listener, Run() serves until the context is cancelled and closes the backend.
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/?_pragma=synchronous(" + *synchronous + ")",
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %v\n", err)
		os.Exit(1)
	}

	if *debugAddr != "" {
		go func() {
			if err := http.ListenAndServe(*debugAddr, nil); err != nil { //nolint:gosec // local profiling only
				fmt.Fprintf(os.Stderr, "ferretdb: -debug-addr: %v\n", err)
			}
		}()
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	fmt.Fprintf(os.Stderr, "ferretdb: serving %s on %s (sqlite dir %s)\n", f.MongoDBURI(), *listen, abs)
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "ferretdb: stopped")
}

// doPing sends {ping: 1} to the admin database of a single server, without server discovery.
func doPing(addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	opts := options.Client().
		ApplyURI("mongodb://" + addr + "/").
		SetDirect(true).
		SetServerSelectionTimeout(timeout).
		SetConnectTimeout(timeout)
	client, err := mongo.Connect(ctx, opts)
	if err != nil {
		return err
	}
	defer client.Disconnect(context.Background()) //nolint:errcheck // best effort
	var reply bson.M
	if err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Decode(&reply); err != nil {
		return err
	}
	if ok, _ := reply["ok"].(float64); ok != 1 {
		return fmt.Errorf("unexpected reply %v", reply)
	}
	return nil
}

package main

import (
	"os"

	"github.com/nats-io/nats.go"
	"github.com/spf13/pflag"
)

// natsFlags are the connection flags of the subcommands that talk to NATS
// (watch, audit export): the same names, meanings and password variable
// everywhere.
type natsFlags struct {
	url, user, password, creds *string
}

// addNATSFlags defines the NATS connection flags on fs.
func addNATSFlags(fs *pflag.FlagSet) natsFlags {
	return natsFlags{
		url:      fs.String("nats.url", nats.DefaultURL, "NATS server URL (several: separated by commas)"),
		user:     fs.String("nats.user", "", "NATS user"),
		password: fs.String("nats.password", "", "NATS password (or set CANARYCTL_NATS_PASSWORD)"),
		creds:    fs.String("nats.credentials-file", "", "NATS credentials (.creds) file"),
	}
}

// connect connects as the flags say, naming the connection name; extra
// options follow the flags'.
func (f natsFlags) connect(name string, extra ...nats.Option) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name(name)}
	password := *f.password
	if password == "" {
		password = os.Getenv("CANARYCTL_NATS_PASSWORD")
	}
	if *f.user != "" {
		opts = append(opts, nats.UserInfo(*f.user, password))
	}
	if *f.creds != "" {
		opts = append(opts, nats.UserCredentials(*f.creds))
	}
	return nats.Connect(*f.url, append(opts, extra...)...)
}

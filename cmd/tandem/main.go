// Command tandem is the single Tandem binary: every role is a subcommand.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tandem-db/tandem/internal/version"
)

func main() {
	root := &cobra.Command{
		Use:   "tandem",
		Short: "Tandem: a Milvus-compatible vector database that keeps serving when a machine dies",
		Long: `Tandem is a vector database that speaks the Milvus protocol (gRPC and
RESTful v2 on one port), so the official Milvus SDKs work unchanged.

Every flag can also be set from the environment as TANDEM_<FLAG>, with
dashes as underscores (for example TANDEM_DATA_DIR); a flag given on the
command line wins.`,
		SilenceUsage: true,
		Version:      version.Get().String(),
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return applyEnv(cmd.Flags())
		},
	}
	root.AddCommand(newStandaloneCmd(), newNodeCmd(), newBenchCmd(), newVersionCmd(), newArbiterCmd(), newStatusCmd(), newProxyCmd(), newSwitchoverCmd(), newPromoteCmd(), newDemoCmd(), newSetModeCmd())
	root.AddCommand(newDeploymentCmd(), newCDCCmd(), newCoordCmd())
	root.AddCommand(newCertsCmd())
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}

// applyEnv sets every flag not given on the command line from TANDEM_<NAME>.
// A flag and its deprecated alias (addAlias) share one variable: neither
// is set from the environment when either was given on the command line.
func applyEnv(fs *pflag.FlagSet) error {
	var err error
	given := map[pflag.Value]bool{}
	fs.Visit(func(f *pflag.Flag) { given[f.Value] = true })
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || given[f.Value] || err != nil {
			return
		}
		key := "TANDEM_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(key); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", key, v, e)
			}
		}
	})
	return err
}

package cli

import "fmt"

// ExitCode is the process exit status of a command.
type ExitCode int

// Exit statuses, documented in the root command's help.
const (
	ExitOK      ExitCode = 0
	ExitError   ExitCode = 1
	ExitUsage   ExitCode = 2
	ExitBlocked ExitCode = 3
	ExitCancel  ExitCode = 130
)

// FlagError reports bad usage: a wrong flag or argument. Main prints it
// with a pointer to --help and exits with ExitUsage.
type FlagError struct{ Err error }

func (e FlagError) Error() string { return e.Err.Error() }
func (e FlagError) Unwrap() error { return e.Err }

func flagErrorf(format string, a ...any) error {
	return FlagError{Err: fmt.Errorf(format, a...)}
}

// SilentError means the command already told the user what went wrong;
// Main exits with Code and prints nothing more.
type SilentError struct{ Code ExitCode }

func (e SilentError) Error() string { return fmt.Sprintf("exit status %d", int(e.Code)) }

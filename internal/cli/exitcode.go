package cli

import "fmt"

// ExitCode is the process exit status of bot-bottle. The values are part of
// the command-line interface: scripts branch on them, and the root command's
// help documents them.
type ExitCode int

// Exit statuses.
const (
	ExitOK      ExitCode = 0   // success
	ExitError   ExitCode = 1   // an error, e.g. an invalid manifest
	ExitUsage   ExitCode = 2   // bad usage: unknown command, flag or argument
	ExitBlocked ExitCode = 3   // the policy refused what was asked
	ExitCancel  ExitCode = 130 // interrupted (128 + SIGINT, as shells report it)
)

// FlagError reports bad usage: an unknown command or flag, or a wrong
// argument. Main prints it with a pointer to the command's --help and exits
// with ExitUsage.
type FlagError struct{ Err error }

func (e FlagError) Error() string { return e.Err.Error() }

func (e FlagError) Unwrap() error { return e.Err }

// flagErrorf returns a FlagError with a formatted message; %w wraps.
func flagErrorf(format string, a ...any) error {
	return FlagError{Err: fmt.Errorf(format, a...)}
}

// SilentError means the command has already told the user what went wrong:
// Main prints nothing more and exits with Code.
type SilentError struct{ Code ExitCode }

func (e SilentError) Error() string { return fmt.Sprintf("exit status %d", int(e.Code)) }

// commandStatus turns the status of a command run in a bottle into the
// error Main reports: nil for 0, else a silent exit with that status.
func commandStatus(code int, err error) error {
	if err == nil && code != 0 {
		err = SilentError{Code: ExitCode(code)}
	}
	return err
}

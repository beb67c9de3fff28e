// Package impure has a second doc comment here.
package impure

import "errors"

type fake struct{}

func (fake) Now() int { return 0 }

// shadow calls Now on a local variable named time: not a clock read.
func shadow() (int, error) {
	time := fake{}
	return time.Now(), errors.New("x")
}

// This comment is not a package doc comment: a blank line follows it.

package nodoc

func f() int { return 1 }

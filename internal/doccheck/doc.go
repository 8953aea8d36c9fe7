// Package doccheck holds the test that keeps scrim's documentation self-contained: every
// relative link and file reference in the Markdown files and Go comments names a file of the
// repository, and nothing cites the design notes that live beside the project. It has no code
// of its own.
package doccheck

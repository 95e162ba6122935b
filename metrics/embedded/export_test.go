package embedded

// WaitBackground waits for background head truncations, so that tests can
// check retention without sleeping.
func (s *Source) WaitBackground() { s.background.Wait() }

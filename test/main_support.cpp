// Anchors the test support library (test/support/*.cpp add shared fixtures and harnesses).

"""Model cards (C4): what a registered version is, how it was made and tested, what it is
for, who put it where, told from the records in the Model Card Toolkit's four parts."""

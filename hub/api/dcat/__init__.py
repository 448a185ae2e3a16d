"""DCAT-AP 3 documents of the catalogue: paged catalogue and one document per dataset."""

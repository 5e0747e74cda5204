"""The data catalogue (政务信息资源目录) and the open-data portal (数据开放): GB/T 21063 metadata,
field grades, the gate that keeps personal data out, the datastore, the CKAN Action API and DCAT."""

print("fetching")
